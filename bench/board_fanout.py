"""Benchmark 5: the staff board's fan-out, from a case event on Kafka to 1,000 open SSE streams.

The notify service runs as its own process (SMTP pointed at a local aiosmtpd sink, so the mails
case.submitted causes are really sent). Subscribers are raw asyncio streams in child processes
(`bench/sse_clients.py`, 500 per process), signed in the board's way: the staff token is
exchanged once at `/board?access_token=` for the `sop_board` cookie, which every stream sends.

Per event: `case.submitted` for a new case is published with `KafkaEventPublisher` (the time
taken just before `publish()`), the service consumes it, writes the timeline, renders the card
once and the hub puts the frame on every queue; each subscriber notes when the frame arrives.
Reported: per event, the time until ALL subscribers had it (p50/p99 over events), and each
subscriber's latency (p50/p99 over subscribers x events). The reference is the same
measurement with 1 subscriber, in the same run, against the same process, right before: the
ratio is what fanning out to 1,000 costs. Events are spaced (not a throughput test).
"""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from bench.harness import ORGANIZATION, REPO, Platform, free_port
from bench.processes import CpuMeter, rss_kib
from bench.results import BenchResult, Figure, Target, median
from tests.support import sample_event

NAME = "board_fanout"
TITLE = "Board fan-out: case event on Kafka to 1,000 staff-board SSE subscribers"
TARGET_P99_MS = 1000
PER_PROCESS = 500
EVENT_TIMEOUT_S = 30


@dataclass(frozen=True)
class Sizes:
    subscribers: int
    events: int
    gap_s: float  # pause between one event reaching everyone and the next publication


def sizes(quick: bool) -> Sizes:
    return Sizes(subscribers=100, events=5, gap_s=0.2) if quick else Sizes(1000, 20, 0.5)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class ClientProcess:
    """One `bench.sse_clients` child: its streams, its `all <case>` lines, its result."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.done: dict[str, asyncio.Event] = {}
        self.connected = 0
        self.ready = asyncio.Event()
        self.result: dict[str, Any] | None = None
        self.finished = asyncio.Event()
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, host: str, port: int, count: int, cookie: str) -> ClientProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.sse_clients",
            host,
            str(port),
            str(count),
            cwd=REPO,
            env={**os.environ, "BENCH_BOARD_COOKIE": cookie},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=1 << 26,
        )
        return cls(process)

    def arrived(self, case_id: str) -> asyncio.Event:
        return self.done.setdefault(case_id, asyncio.Event())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        try:
            while line := await self.process.stdout.readline():
                kind, _, rest = line.decode().rstrip("\n").partition(" ")
                if kind == "ready":
                    self.connected = int(rest)
                    self.ready.set()
                elif kind == "all":
                    self.arrived(rest).set()
                elif kind == "result":
                    self.result = orjson.loads(rest)
        finally:
            self.finished.set()
            self.ready.set()

    async def stop(self) -> dict[str, Any]:
        assert self.process.stdin is not None
        if self.process.returncode is None:
            self.process.stdin.write(b"stop\n")
            await self.process.stdin.drain()
        try:
            async with asyncio.timeout(60):
                await self.finished.wait()
                await self.process.wait()
        except TimeoutError:
            self.process.kill()  # only this child, which this benchmark started
            await self.process.wait()
        return self.result or {"connected": 0, "receipts": {}, "cpu_s": 0.0, "lost": 0}


async def board_cookie(base_url: str, token: str) -> str:
    """Sign in as a browser would: the link with ?access_token= sets the board cookie."""
    async with httpx.AsyncClient(base_url=base_url, trust_env=False) as http:
        response = await http.get("/board", params={"access_token": token})
        cookie = response.cookies.get("sop_board")
        if response.status_code != 303 or not cookie:
            raise RuntimeError(
                f"board sign-in failed: {response.status_code} {response.text[:200]}"
            )
        return cookie


async def phase(
    platform: Platform,
    service_port: int,
    pid: int,
    cookie: str,
    subscribers: int,
    chosen: Sizes,
    label: str,
) -> dict[str, Any]:
    """Open `subscribers` streams, publish `chosen.events` case events one after another."""
    counts = [PER_PROCESS] * (subscribers // PER_PROCESS)
    if subscribers % PER_PROCESS:
        counts.append(subscribers % PER_PROCESS)
    rss_before = rss_kib(pid)[0]
    opened = time.monotonic()
    clients = [await ClientProcess.start("127.0.0.1", service_port, n, cookie) for n in counts]
    for client in clients:
        await client.ready.wait()
    connect_s = time.monotonic() - opened
    connected = sum(c.connected for c in clients)
    rss_connected = rss_kib(pid)[0]
    meter = CpuMeter({"notify": pid}, split=("notify",))
    published: dict[str, float] = {}
    timed_out: list[str] = []
    meter.start()
    for n in range(chosen.events + 1):  # the first event warms up and is not counted
        case_id = f"fan-{label}-{secrets.token_hex(3)}-{n}"
        event = sample_event(case_id, organization_id=ORGANIZATION)
        waits = [c.arrived(case_id) for c in clients]
        published[case_id] = time.monotonic()
        await platform.publisher.publish([event])
        try:
            async with asyncio.timeout(EVENT_TIMEOUT_S):
                await asyncio.gather(*(w.wait() for w in waits))
        except TimeoutError:
            timed_out.append(case_id)
        if n == 0:
            meter.start()  # CPU from the first measured event on
            del published[case_id]
        await asyncio.sleep(chosen.gap_s)
    cpu = meter.stop()
    rss_after = rss_kib(pid)
    results = [await c.stop() for c in clients]
    events = []
    for case_id, at in published.items():
        times = [t for r in results for t in r["receipts"].get(case_id, [])]
        latencies = [round((t - at) * 1000, 3) for t in times]
        events.append(
            {
                "case_id": case_id,
                "received_by": len(times),
                "all_ms": max(latencies) if len(times) == connected else None,
                "p50_ms": quantile(latencies, 0.5),
                "p99_ms": quantile(latencies, 0.99),
                "latencies_ms": latencies,
            }
        )
    return {
        "subscribers": subscribers,
        "connected": connected,
        "refused": sum(r.get("refused_count", 0) for r in results),
        "lost": sum(r.get("lost", 0) for r in results),
        "processes": len(clients),
        "connect_s": round(connect_s, 3),
        "timed_out": timed_out,
        "events": events,
        "cpu": cpu,
        "client_cpu_s": round(sum(r["cpu_s"] for r in results), 3),
        "notify_rss_mib": {
            "before_streams": round(rss_before / 1024, 1),
            "streams_open": round(rss_connected / 1024, 1),
            "after_events": round(rss_after[0] / 1024, 1),
            "peak_hwm": round(rss_after[1] / 1024, 1),
        },
    }


def mail_sink(port: int) -> Any:
    return asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aiosmtpd",
        "-n",
        "-l",
        f"127.0.0.1:{port}",
        cwd=REPO,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def run(platform: Platform) -> BenchResult:
    chosen = sizes(platform.options.quick)
    smtp_port = free_port()
    sink = await mail_sink(smtp_port)
    runs: list[dict[str, Any]] = []
    try:
        env = {"NOTIFY_SMTP_HOST": "127.0.0.1", "NOTIFY_SMTP_PORT": str(smtp_port)}
        async with platform.service("notify", env) as notify:
            pid = notify.process.pid
            cookie = await board_cookie(notify.url, platform.token("intake-staff"))
            for n in range(platform.options.repeats):
                one = await phase(platform, notify.port, pid, cookie, 1, chosen, f"ref{n}")
                many = await phase(
                    platform, notify.port, pid, cookie, chosen.subscribers, chosen, f"fan{n}"
                )
                runs.append({"reference": one, "fanout": many})
                print(
                    f"  repetition {n + 1}: all {many['connected']} received p50 "
                    f"{median(e['all_ms'] or float('nan') for e in many['events']):.0f} ms; "
                    f"1 subscriber p50 "
                    f"{median(e['all_ms'] or float('nan') for e in one['events']):.0f} ms",
                    flush=True,
                )
    finally:
        if sink.returncode is None:
            sink.terminate()  # the mail sink this benchmark started
        await sink.wait()
    return summarize(runs, chosen)


def _all_ms(run: dict[str, Any]) -> list[float]:
    """Per event, time to the last subscriber; an event someone never got counts as the
    time-out (a lower bound; the notes say how many timed out)."""
    missing = float(EVENT_TIMEOUT_S * 1000)
    return [e["all_ms"] if e["all_ms"] is not None else missing for e in run["events"]]


def _pooled(run: dict[str, Any]) -> list[float]:
    return [x for e in run["events"] for x in e["latencies_ms"]]


def _without_samples(run: dict[str, Any]) -> dict[str, Any]:
    """A phase for the JSON file: every event's summary, not each subscriber's latency."""
    events = [{k: v for k, v in e.items() if k != "latencies_ms"} for e in run["events"]]
    return {**run, "events": events}


def summarize(runs: list[dict[str, Any]], chosen: Sizes) -> BenchResult:
    result = BenchResult(NAME, TITLE)
    n = chosen.subscribers
    ref_name = "1 subscriber, same run"

    Phase = dict[str, Any]

    def per_run(side: str, fn: Callable[[Phase], float]) -> list[float]:
        return [float(fn(r[side])) for r in runs]

    def ratios(fn: Callable[[Phase], float]) -> list[float]:
        return [fn(r["fanout"]) / fn(r["reference"]) for r in runs if fn(r["reference"]) > 0]

    def all_p50(run: Phase) -> float:
        return quantile(_all_ms(run), 0.5)

    def all_p99(run: Phase) -> float:
        return quantile(_all_ms(run), 0.99)

    def sub_p50(run: Phase) -> float:
        return quantile(_pooled(run), 0.5)

    def sub_p99(run: Phase) -> float:
        return quantile(_pooled(run), 0.99)

    for title, fn, target in (
        (f"publication → all {n} subscribers, p99 over events", all_p99, True),
        (f"publication → all {n} subscribers, p50 over events", all_p50, False),
        ("per-subscriber latency p50 (subscribers x events)", sub_p50, False),
        ("per-subscriber latency p99 (subscribers x events)", sub_p99, False),
    ):
        result.figures.append(
            Figure(
                title,
                median(per_run("fanout", fn)),
                "ms",
                reference_name=ref_name,
                reference_value=median(per_run("reference", fn)),
                target=Target("<", TARGET_P99_MS) if target else None,
                samples=per_run("fanout", fn),
                reference_samples=per_run("reference", fn),
                ratio_samples=ratios(fn),
            )
        )

    def cpu_per_event(run: Phase) -> float:
        return float(run["cpu"].get("notify", math.nan)) / chosen.events * 1000

    def loop_per_event(run: Phase) -> float:
        return float(run["cpu"].get("notify event loop", math.nan)) / chosen.events * 1000

    def rss_growth(run: Phase) -> float:
        rss = run["notify_rss_mib"]
        return float(rss["streams_open"] - rss["before_streams"])

    # What each extra subscriber costs the service per event, from the paired phases.
    per_subscriber = [
        (cpu_per_event(r["fanout"]) - cpu_per_event(r["reference"])) * 1000 / max(n - 1, 1)
        for r in runs
    ]
    result.figures += [
        Figure(
            "notify CPU per event",
            median(per_run("fanout", cpu_per_event)),
            "ms",
            reference_name=ref_name,
            reference_value=median(per_run("reference", cpu_per_event)),
            samples=per_run("fanout", cpu_per_event),
            ratio_samples=ratios(cpu_per_event),
        ),
        Figure(
            "notify event-loop thread CPU per event",
            median(per_run("fanout", loop_per_event)),
            "ms",
            reference_name=ref_name,
            reference_value=median(per_run("reference", loop_per_event)),
            samples=per_run("fanout", loop_per_event),
        ),
        Figure(
            "notify CPU per subscriber per event (fan-out minus 1-subscriber CPU, / subscribers)",
            median(per_subscriber),
            "µs",
            samples=per_subscriber,
        ),
        # The first opening is the one that costs memory; later repetitions reuse what the
        # closed streams freed, so the largest growth (the first) is the figure.
        Figure(
            f"notify RSS growth when {n} streams first open",
            max(per_run("fanout", rss_growth)),
            "MiB",
            samples=per_run("fanout", rss_growth),
        ),
        Figure(
            f"notify RSS, {n} streams first open",
            runs[0]["fanout"]["notify_rss_mib"]["streams_open"],
            "MiB",
            reference_name="before them",
            reference_value=runs[0]["fanout"]["notify_rss_mib"]["before_streams"],
        ),
    ]
    for index, run in enumerate(runs, 1):
        many, one = run["fanout"], run["reference"]
        result.notes.append(
            f"repetition {index}: {many['connected']}/{n} streams in {many['processes']} client "
            f"process(es), opened in {many['connect_s']:.1f} s; {len(many['events'])} events "
            f"{chosen.gap_s} s apart; timed out {len(many['timed_out'])}, refused "
            f"{many['refused']}, lost {many['lost']}; notify CPU {many['cpu'].get('notify')} s "
            f"(event loop {many['cpu'].get('notify event loop')} s) over {many['cpu']['wall']} s; "
            f"client CPU {many['client_cpu_s']} s; 1-subscriber notify CPU "
            f"{one['cpu'].get('notify')} s; RSS {many['notify_rss_mib']}"
        )
    result.details = {
        "sizes": chosen.__dict__,
        "per_process": PER_PROCESS,
        "runs": [
            {side: _without_samples(r[side]) for side in ("reference", "fanout")} for r in runs
        ],
    }
    return result
