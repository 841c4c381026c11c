"""Benchmark 4: peak RSS growth of the records service while it takes a huge upload.

A 2 GB document (a PDF header, then filler) generated on the fly and a 1 GB patient-CD zip
built on disk are streamed as multipart/form-data; neither is ever held in memory here. The
same CD zip then goes the resumable way (issue 16): parts PUT straight to MinIO on presigned
URLs, the connection "dropped" at 60% (a new client asks records which parts the store holds
and sends the rest), then records assembles and ingests it from the object store. The
service's RSS is polled from /proc every 20 ms and its VmHWM (reset before each upload, where
permitted) is read afterwards; growth is the peak minus the RSS just before the upload.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.harness import ORGANIZATION, Platform
from bench.processes import CpuMeter, reset_peak_rss, rss_kib, stack_pids
from bench.results import BenchResult, Figure, Target
from bench.study import write_cd_zip

NAME = "upload_memory"
TITLE = "Upload memory: records service RSS growth while streaming huge uploads"
MiB = 1024 * 1024
GB = 1_000_000_000
TARGET_MIB = 64
BOUNDARY = "bench-upload-boundary"
CHUNK = MiB


@dataclass(frozen=True)
class Sizes:
    document_bytes: int
    zip_bytes: int


def sizes(quick: bool) -> Sizes:
    return Sizes(100 * 1_000_000, 50 * 1_000_000) if quick else Sizes(2 * GB, 1 * GB)


def multipart(
    kind: str, filename: str, content_type: str, size: int, chunks: Iterator[bytes]
) -> tuple[Iterator[bytes], int]:
    """A multipart/form-data body around a file part streamed from `chunks` (`size` bytes)."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="kind"\r\n\r\n{kind}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield head
        yield from chunks
        yield tail

    return body(), len(head) + size + len(tail)


def pdf_chunks(size: int) -> Iterator[bytes]:
    """`size` bytes that pass records' PDF check: its header, the same 1 MiB of filler again,
    and a trailer naming a root object before `%%EOF` (without them it is refused as damaged)."""
    header = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    trailer = b"\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    filler = (b"0 0 0 rg 72 720 Td (bench filler) Tj\n" * (CHUNK // 37 + 1))[:CHUNK]
    yield header
    left = size - len(header) - len(trailer)
    while left >= CHUNK:
        yield filler
        left -= CHUNK
    if left:
        yield filler[:left]
    yield trailer


def file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            yield chunk


class RssPoller:
    """Samples a process's VmRSS in a thread; `peak_kib` is the highest seen."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self._pid = pid
        self._interval = interval
        self._stop = threading.Event()
        self.peak_kib = 0
        self.samples = 0
        self.timeline: list[tuple[float, int]] = []  # (monotonic time, VmRSS KiB)
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            rss = rss_kib(self._pid)[0]
            self.peak_kib = max(self.peak_kib, rss)
            self.timeline.append((time.monotonic(), rss))
            self.samples += 1
            time.sleep(self._interval)

    def __enter__(self) -> RssPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def upload(url: str, headers: dict[str, str], body: Iterator[bytes], length: int) -> httpx.Response:
    with httpx.Client(trust_env=False, timeout=1800) as http:
        return http.post(
            url,
            content=body,
            headers={
                **headers,
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                "Content-Length": str(length),
            },
        )


class Watched:
    """The records process around one upload: its RSS (polled, and VmHWM where it can be reset)
    and the CPU meter, with when the body was sent, so the growth while receiving and while
    storing part. The bookkeeping every measurement shares."""

    def __init__(self, pid: int, meter: CpuMeter) -> None:
        self._pid = pid
        self._meter = meter
        self._poller = RssPoller(pid)
        self.sent: float | None = None

    def __enter__(self) -> Watched:
        self._hwm_reset = reset_peak_rss(self._pid)
        self._baseline_kib = rss_kib(self._pid)[0]
        self._meter.start()
        self._poller.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._poller.__exit__(*exc)
        self._cpu = self._meter.stop()

    def body_sent(self) -> None:
        """The last byte went; what follows is the service storing what it received."""
        self.sent = time.monotonic()

    def figures(self, size: int) -> dict[str, Any]:
        sent = self.sent if self.sent is not None else time.monotonic()
        baseline, timeline = self._baseline_kib, self._poller.timeline
        receiving = max((rss for t, rss in timeline if t <= sent), default=baseline)
        storing = max((rss for t, rss in timeline if t > sent), default=baseline)
        rss_after, hwm = rss_kib(self._pid)
        peak = max(self._poller.peak_kib, hwm) if self._hwm_reset else self._poller.peak_kib
        return {
            "body_bytes": size,
            "seconds": self._cpu["wall"],
            "mb_per_s": round(size / 1e6 / self._cpu["wall"], 1),
            "baseline_rss_mib": round(baseline / 1024, 1),
            "peak_rss_mib": round(peak / 1024, 1),
            "rss_after_mib": round(rss_after / 1024, 1),
            "growth_mib": round((peak - baseline) / 1024, 1),
            # Where the peak falls: while the body streams in, or while the service stores it.
            "growth_while_receiving_mib": round((receiving - baseline) / 1024, 1),
            "growth_after_body_sent_mib": round((storing - baseline) / 1024, 1),
            "seconds_after_body_sent": round(time.monotonic() - sent, 1),
            "peak_from": "VmHWM and polling" if self._hwm_reset else "polling only",
            "polls": self._poller.samples,
            "cpu_seconds": self._cpu,
        }


def measure_resumable(
    pid: int, meter: CpuMeter, records_url: str, case_id: str, headers: dict[str, str], path: Path
) -> dict[str, Any]:
    """The CD zip in parts on presigned URLs, dropped at 60% and resumed, then ingested."""
    size = path.stat().st_size
    uploads = f"{records_url}/cases/{case_id}/uploads"
    with Watched(pid, meter) as watched, path.open("rb") as source:
        with httpx.Client(trust_env=False, timeout=300, headers=headers) as records:
            started = records.post(
                uploads, json={"kind": "ct-imaging", "filename": path.name, "size_bytes": size}
            )
            started.raise_for_status()
            session = started.json()
        upload_url = f"{uploads}/{session['upload_id']}"
        numbers = list(range(1, session["part_count"] + 1))
        dropped_at = math.ceil(len(numbers) * 0.6)

        def send(client: httpx.Client, wanted: list[int]) -> list[int]:
            """PUT these parts (URLs asked in batches); returns the ones the store had."""
            had: list[int] = []
            for at in range(0, len(wanted), 500):
                answer = client.post(f"{upload_url}/parts", json={"numbers": wanted[at : at + 500]})
                answer.raise_for_status()
                body = answer.json()
                had += [p["number"] for p in body["uploaded"]]
                with httpx.Client(trust_env=False, timeout=300) as store:
                    for part in body["urls"]:
                        if part["number"] in had:
                            continue
                        source.seek((part["number"] - 1) * session["part_size"])
                        put = store.put(part["url"], content=source.read(session["part_size"]))
                        put.raise_for_status()
            return had

        with httpx.Client(trust_env=False, timeout=300, headers=headers) as first:
            send(first, numbers[:dropped_at])  # then the laptop closes
        with httpx.Client(trust_env=False, timeout=300, headers=headers) as later:
            resumed_from = send(later, numbers)
            watched.body_sent()
            later.post(f"{upload_url}/complete").raise_for_status()
            while True:
                state = later.get(upload_url).json()
                if state["state"] in ("done", "failed", "aborted"):
                    break
                time.sleep(0.2)
    return {
        "status": 200 if state["state"] == "done" else 500,
        "response": state,
        "parts": len(numbers),
        "part_bytes": session["part_size"],
        "parts_kept_across_the_drop": len(resumed_from),
        **watched.figures(size),
    }


def measure(
    pid: int, meter: CpuMeter, url: str, headers: dict[str, str], body: Iterator[bytes], length: int
) -> dict[str, Any]:
    with Watched(pid, meter) as watched:

        def marked() -> Iterator[bytes]:
            yield from body
            watched.body_sent()

        response = upload(url, headers, marked(), length)
    return {
        "status": response.status_code,
        "response": response.json() if response.status_code < 500 else response.text[:500],
        **watched.figures(length),
    }


async def run(platform: Platform) -> BenchResult:
    chosen = sizes(platform.options.quick)
    spool = platform.scratch / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    env = {
        "RECORDS_MAX_UPLOAD_BYTES": str(max(chosen.document_bytes, chosen.zip_bytes) * 2),
        "RECORDS_SPOOL_DIR": str(spool),
    }
    zip_path = platform.scratch / "patient-cd.zip"
    instances, zip_size = await asyncio.to_thread(write_cd_zip, zip_path, chosen.zip_bytes)
    runs: dict[str, dict[str, Any]] = {}
    async with platform.service("records", env) as records:
        pid = records.process.pid
        meter = CpuMeter({"records": pid, **stack_pids()})
        case_id = await platform.open_case(records.url)
        url = f"{records.url}/cases/{case_id}/documents"
        headers = platform.headers("hospital-system", organization=ORGANIZATION)
        # Warm-up: the first upload of each kind imports and connects what it needs.
        small = write_cd_zip(platform.scratch / "warm.zip", 1)
        warm_doc = multipart("pathology-report", "w.pdf", "application/pdf", MiB, pdf_chunks(MiB))
        warm_zip = multipart(
            "ct-imaging",
            "w.zip",
            "application/zip",
            small[1],
            file_chunks(platform.scratch / "warm.zip"),
        )
        for body, length in (warm_doc, warm_zip):
            await asyncio.to_thread(upload, url, headers, body, length)
        body, length = multipart(
            "pathology-report",
            "scan.pdf",
            "application/pdf",
            chosen.document_bytes,
            pdf_chunks(chosen.document_bytes),
        )
        print(f"  document upload: {length / 1e6:,.0f} MB", flush=True)
        runs["document"] = await asyncio.to_thread(measure, pid, meter, url, headers, body, length)
        print(f"    growth {runs['document']['growth_mib']} MiB", flush=True)
        body, length = multipart(
            "ct-imaging", "patient-cd.zip", "application/zip", zip_size, file_chunks(zip_path)
        )
        print(f"  CD zip upload: {length / 1e6:,.0f} MB, {instances} instances", flush=True)
        runs["cd_zip"] = await asyncio.to_thread(measure, pid, meter, url, headers, body, length)
        print(f"    growth {runs['cd_zip']['growth_mib']} MiB", flush=True)
        print("  CD zip, resumable: dropped at 60%, resumed", flush=True)
        resumable_case = await platform.open_case(records.url)
        runs["resumable_cd_zip"] = await asyncio.to_thread(
            measure_resumable, pid, meter, records.url, resumable_case, headers, zip_path
        )
        print(f"    growth {runs['resumable_cd_zip']['growth_mib']} MiB", flush=True)
    zip_path.unlink(missing_ok=True)
    return summarize(runs, chosen, instances)


def summarize(runs: dict[str, dict[str, Any]], chosen: Sizes, instances: int) -> BenchResult:
    result = BenchResult(NAME, TITLE)
    labels = {
        "document": f"{chosen.document_bytes / 1e9:g} GB document upload",
        "cd_zip": f"{chosen.zip_bytes / 1e9:g} GB CD zip upload ({instances} instances)",
        "resumable_cd_zip": (
            f"{chosen.zip_bytes / 1e9:g} GB CD zip, resumable to the object store, dropped at 60%"
        ),
    }
    for key, run in runs.items():
        ok = run["status"] in (200, 201)
        result.figures.append(
            Figure(
                name=f"peak RSS growth, {labels[key]}",
                value=run["growth_mib"] if ok else float("nan"),
                unit="MiB",
                target=Target("<", TARGET_MIB),
            )
        )
        if not ok:
            result.notes.append(f"{labels[key]} failed: {run['status']} {run['response']}")
        result.notes.append(
            f"{labels[key]}: {run['seconds']:.1f} s ({run['mb_per_s']} MB/s), RSS "
            f"{run['baseline_rss_mib']} → peak {run['peak_rss_mib']} MiB; growth while "
            f"receiving {run['growth_while_receiving_mib']} MiB, while storing "
            f"{run['growth_after_body_sent_mib']} MiB ({run['seconds_after_body_sent']} s)"
        )
        if "parts" in run:
            result.notes.append(
                f"{labels[key]}: {run['parts']} parts of {run['part_bytes'] / MiB:g} MiB; after "
                f"the drop the store still held {run['parts_kept_across_the_drop']}, only the "
                "rest were sent again; the bytes never passed through records on the way in"
            )
    result.details = {
        "runs": runs,
        "document_bytes": chosen.document_bytes,
        "zip_bytes": chosen.zip_bytes,
    }
    return result
