"""The ways a study goes in: records STOW-RS, a resumable upload to records on presigned URLs,
records' C-STORE SCP, Orthanc STOW-RS and C-STORE, raw MinIO PUTs.

STOW requests carry batches of instances as a PACS sends them, from `clients` concurrent
senders; C-STORE opens one association per client, each pushing the next instance not yet sent;
the resumable upload sends the study as a zip (a CD folder) whose parts go up `clients` at a
time, and ends when records has ingested it; raw PUTs send one object per instance from as many
threads.
"""

from __future__ import annotations

import asyncio
import io
import logging
import socket
import threading
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
from minio import Minio
from minio.deleteobjects import DeleteObject
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    CTImageStorage,
    MRImageStorage,
)

from bench.harness import ORGANIZATION, Platform

BOUNDARY = "bench-stow-boundary"
STOW_TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'


def stow_body(parts: list[bytes]) -> bytes:
    head = f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
    return b"".join(head + part + b"\r\n" for part in parts) + f"--{BOUNDARY}--\r\n".encode()


def batches(parts: list[bytes], size: int) -> list[list[bytes]]:
    return [parts[i : i + size] for i in range(0, len(parts), size)]


async def post_all(
    http: httpx.AsyncClient,
    url: str,
    bodies: list[tuple[bytes, int]],
    headers: dict[str, str],
    clients: int,
    check: Callable[[httpx.Response, int], None],
) -> int:
    """POST every body with `clients` concurrent senders; returns how many 503s were retried."""
    pending = list(range(len(bodies)))
    retries = 0

    async def sender() -> None:
        nonlocal retries
        while pending:
            body, count = bodies[pending.pop(0)]
            while True:
                response = await http.post(url, content=body, headers=headers)
                if response.status_code == 503:  # records: the case was busy; a PACS retries
                    retries += 1
                    await asyncio.sleep(float(response.headers.get("retry-after", "0.2")) / 5)
                    continue
                check(response, count)
                break

    await asyncio.gather(*(sender() for _ in range(clients)))
    return retries


def check_records(response: httpx.Response, count: int) -> None:
    if response.status_code != 200:
        raise RuntimeError(f"records STOW answered {response.status_code}: {response.text[:300]}")
    stored = response.json().get("00081199", {}).get("Value", [])
    if len(stored) != count:
        raise RuntimeError(f"records STOW stored {len(stored)} of {count} instances")


def check_orthanc(response: httpx.Response, count: int) -> None:
    if response.status_code != 200:
        raise RuntimeError(f"Orthanc STOW answered {response.status_code}: {response.text[:300]}")
    body = response.json()
    failed = body.get("00081198", {}).get("Value", [])
    stored = body.get("00081199", {}).get("Value", [])
    if failed or len(stored) != count:
        raise RuntimeError(f"Orthanc STOW stored {len(stored)} of {count}, {len(failed)} failed")


def put_all(client: Minio, bucket: str, prefix: str, parts: list[bytes], clients: int) -> None:
    def put(index: int) -> None:
        data = parts[index]
        client.put_object(
            bucket, f"{prefix}/{index:05d}", io.BytesIO(data), len(data), "application/dicom"
        )

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(put, range(len(parts))))


POLL_S = 0.1


def zip_of(parts: list[bytes]) -> bytes:
    """The study as a patient CD's folder, zipped without compression (DICOM compresses badly)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for number, data in enumerate(parts, start=1):
            archive.writestr(f"DICOM/S{number // 300:04d}/I{number:06d}", data)
    return buffer.getvalue()


async def presigned_upload(
    http: httpx.AsyncClient,
    uploads_url: str,
    headers: dict[str, str],
    data: bytes,
    clients: int,
    instances: int,
) -> float:
    """Start a resumable upload, PUT its parts on presigned URLs `clients` at a time, complete
    it and wait for records' background ingest (polled every POLL_S: each poll is a request
    records answers, audits and counts in its CPU, so not too often); returns the seconds
    from `complete` to the end of the ingest."""
    started = await http.post(
        uploads_url,
        json={
            "kind": "ct-imaging",
            "filename": "study.zip",
            "size_bytes": len(data),
            "content_type": "application/zip",
        },
        headers=headers,
    )
    _expect(started, 201, "start the upload")
    session = started.json()
    upload_url = f"{uploads_url}/{session['upload_id']}"
    size, count = session["part_size"], session["part_count"]
    urls = await http.post(
        f"{upload_url}/parts", json={"numbers": list(range(1, count + 1))}, headers=headers
    )
    _expect(urls, 200, "presign the parts")
    pending = [(p["number"], p["url"]) for p in urls.json()["urls"]]

    async def sender() -> None:
        while pending:
            number, url = pending.pop(0)
            put = await http.put(url, content=data[(number - 1) * size : number * size])
            _expect(put, 200, f"PUT part {number}")

    await asyncio.gather(*(sender() for _ in range(clients)))
    uploaded = time.monotonic()
    _expect(await http.post(f"{upload_url}/complete", headers=headers), 202, "complete")
    while True:
        state = (await http.get(upload_url, headers=headers)).json()
        if state["state"] in ("done", "failed", "aborted"):
            break
        await asyncio.sleep(POLL_S)
    stored = (state.get("result") or {}).get("instances_stored")
    if state["state"] != "done" or stored != instances:
        raise RuntimeError(f"records ingested {stored} of {instances}: {str(state)[:300]}")
    return time.monotonic() - uploaded


def _expect(response: httpx.Response, status: int, what: str) -> None:
    if response.status_code != status:
        raise RuntimeError(f"could not {what}: {response.status_code} {response.text[:300]}")


# The study's SOP classes, in the transfer syntaxes of its files (and the usual default).
STORAGE_CLASSES = (CTImageStorage, MRImageStorage)
TRANSFER_SYNTAXES = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
TRY_AGAIN = 0xA700  # records: not stored for now (the case was busy); a PACS sends it again


def cstore_all(port: int, calling: str, called: str, paths: list[Path], clients: int) -> int:
    """Push every file with `clients` associations, each sending the next file not yet sent;
    returns how many A700H answers were sent again."""
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    pending = list(reversed(paths))
    lock = threading.Lock()
    retries = 0

    def association() -> None:
        nonlocal retries
        ae = AE(ae_title=calling)
        for sop_class in STORAGE_CLASSES:
            ae.add_requested_context(sop_class, TRANSFER_SYNTAXES)
        assoc = ae.associate("127.0.0.1", port, ae_title=called)
        if not assoc.is_established:
            raise RuntimeError(f"{called} refused the association from {calling}")
        _no_nagle(assoc)
        try:
            while True:
                with lock:
                    if not pending:
                        return
                    path = pending.pop()
                while True:
                    answer = assoc.send_c_store(path)
                    status = int(answer.get("Status", -1)) if answer else -1
                    if status == TRY_AGAIN:
                        with lock:
                            retries += 1
                        time.sleep(0.04)
                        continue
                    if status != 0:
                        raise RuntimeError(f"{called} answered C-STORE with {status:#06x}")
                    break
        finally:
            assoc.release()

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda _: association(), range(clients)))
    return retries


def _no_nagle(assoc: Association) -> None:
    """Send each PDU at once, as a PACS does: pynetdicom leaves Nagle's algorithm on, and with
    the peer's delayed ACKs every instance then waits ~40 ms for nothing (both SCPs alike)."""
    connection = assoc.dul.socket
    if connection is not None and connection.socket is not None:
        connection.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def remove_bucket(client: Minio, bucket: str) -> None:
    """Delete the raw-PUT objects (on a reused stack they would stay otherwise)."""
    names = [o.object_name for o in client.list_objects(bucket, recursive=True)]
    for error in client.remove_objects(bucket, (DeleteObject(n) for n in names if n)):
        raise RuntimeError(f"could not delete {error.name}: {error.message}")
    client.remove_bucket(bucket)


@dataclass(frozen=True)
class Study:
    """One study, ready for every target: its instances, as a zip, and as files on disk."""

    parts: list[bytes]
    zipped: bytes
    paths: list[Path]

    @property
    def bytes(self) -> int:
        return sum(map(len, self.parts))


def prepare(parts: list[bytes], directory: Path) -> Study:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, data in enumerate(parts):
        path = directory / f"{number:05d}.dcm"
        path.write_bytes(data)
        paths.append(path)
    return Study(parts, zip_of(parts), paths)


@dataclass(frozen=True)
class Sent:
    retries: int
    # The resumable upload: seconds from `complete` (every part in the bucket) to ingested.
    ingest_s: float | None = None


@dataclass(frozen=True)
class Endpoints:
    records_url: str
    records_dimse_port: int
    records_ae_title: str
    orthanc_url: str
    orthanc_dimse_port: int
    orthanc_ae_title: str


class Targets:
    """The ways in, each a coroutine taking the same study; `case` names the records case (or,
    for C-STORE, the calling AE title of the case's organization)."""

    def __init__(self, platform: Platform, endpoints: Endpoints, minio: Minio, bucket: str) -> None:
        self._platform = platform
        self._at = endpoints
        self._minio = minio
        self._bucket = bucket
        self._http = httpx.AsyncClient(trust_env=False, timeout=600)
        self._puts = 0

    async def close(self) -> None:
        await self._http.aclose()

    def _hospital(self) -> dict[str, str]:
        return self._platform.headers("hospital-system", organization=ORGANIZATION)

    async def send(self, target: str, study: Study, batch: int, clients: int, case: str) -> Sent:
        """Send the study; says how many requests were sent again (records was busy)."""
        if target == "presigned":
            uploads = f"{self._at.records_url}/cases/{case}/uploads"
            ingest_s = await presigned_upload(
                self._http, uploads, self._hospital(), study.zipped, clients, len(study.parts)
            )
            return Sent(0, ingest_s)
        return Sent(await self._send(target, study, batch, clients, case))

    async def _send(self, target: str, study: Study, batch: int, clients: int, case: str) -> int:
        at = self._at
        if target in ("records", "orthanc"):
            bodies = [(stow_body(b), len(b)) for b in batches(study.parts, batch)]
            accept = {"Content-Type": STOW_TYPE, "Accept": "application/dicom+json"}
            if target == "records":
                url = f"{at.records_url}/dicomweb/studies?case_id={case}"
                headers = {**self._hospital(), **accept}
                return await post_all(self._http, url, bodies, headers, clients, check_records)
            url = f"{at.orthanc_url}/dicom-web/studies"
            return await post_all(self._http, url, bodies, accept, clients, check_orthanc)
        if target == "cstore":
            return await asyncio.to_thread(
                cstore_all, at.records_dimse_port, case, at.records_ae_title, study.paths, clients
            )
        if target == "orthanc-cstore":
            return await asyncio.to_thread(
                cstore_all, at.orthanc_dimse_port, "BENCHPACS", at.orthanc_ae_title,
                study.paths, clients,
            )  # fmt: skip
        self._puts += 1
        prefix = f"run-{self._puts}"
        await asyncio.to_thread(put_all, self._minio, self._bucket, prefix, study.parts, clients)
        return 0
