"""CPU and memory of the processes under test, read from /proc (no psutil needed)."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path

# Servers counted with their children: PostgreSQL's backends do its queries. (A backend that
# ends during a measurement takes its CPU with it; FerretDB's pooled connections stay.)
TREES = ("postgres",)


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB, from /proc."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux clear_refs "5"); False where not permitted."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _cpu_seconds(pid: int, thread: int | None = None) -> float:
    """User + system CPU time of a process and all its threads so far (or of one thread)."""
    path = f"/proc/{pid}/task/{thread}/stat" if thread else f"/proc/{pid}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pids_with_argument(*needles: str) -> list[int]:
    """Processes whose command line contains every needle (e.g. the stack's own ports)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if all(n in argv for n in needles):
            found.append(int(entry.name))
    return found


def stack_pids() -> dict[str, int]:
    """The servers of this run's stack, found by their ports: MinIO, the MongoDB-compatible
    server, PostgreSQL under FerretDB (its postmaster: CpuMeter adds its backends) and Kafka."""
    pids: dict[str, int] = {}
    s3_port = os.environ.get("S3_ENDPOINT", "").rpartition(":")[2]
    mongo_port = os.environ.get("MONGO_URL", "").rpartition(":")[2].split("/")[0]
    for name, needles in (
        ("minio", ("server", f"127.0.0.1:{s3_port}")),
        ("mongo", (f"127.0.0.1:{mongo_port}",)),
    ):
        candidates = [p for p in pids_with_argument(*needles) if p != os.getpid()]
        if candidates:
            pids[name] = min(candidates)
    pg_port = _postgres_port(pids.get("mongo"))
    if pg_port:
        postmasters = pids_with_argument("postgres", f"\0-p\0{pg_port}\0")
        if postmasters:
            pids["postgres"] = min(postmasters)
    kafka_port = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").rpartition(":")[2]
    for pid in pids_with_argument("kafka.Kafka"):
        if kafka_port and _kafka_listens_on(pid, kafka_port):
            pids["kafka"] = pid
    return pids


def _postgres_port(ferretdb: int | None) -> str | None:
    """The PostgreSQL port in FerretDB's environment (FERRETDB_POSTGRESQL_URL)."""
    if ferretdb is None:
        return None
    with suppress(OSError):
        for item in Path(f"/proc/{ferretdb}/environ").read_bytes().split(b"\0"):
            if item.startswith(b"FERRETDB_POSTGRESQL_URL="):
                return item.decode().rpartition(":")[2].split("/")[0]
    return None


def _kafka_listens_on(pid: int, port: str) -> bool:
    """Whether the broker's properties file (its last argument) names this listener port."""
    with suppress(OSError):
        props = Path((Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"))[-2].decode())
        return f":{port}" in props.read_text()
    return False


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


class CpuMeter:
    """CPU seconds spent by named processes (and this one) between `start()` and `stop()`.

    For the processes named in `split`, the main thread (a service's event loop) is also
    counted on its own, so loop work and worker-thread work (`asyncio.to_thread`) part."""

    def __init__(self, pids: Mapping[str, int], split: tuple[str, ...] = ("records",)) -> None:
        self._pids = dict(pids)
        self._split = split
        self._before: dict[str, float] = {}
        self._started = 0.0

    def _now(self) -> dict[str, float]:
        times = os.times()
        found = {"bench client": times.user + times.system}
        for name, pid in self._pids.items():
            with suppress(OSError):
                found[name] = _cpu_seconds(pid)
                if name in TREES:  # a server whose work is done by its child processes
                    for child in _children(pid):
                        with suppress(OSError):
                            found[name] += _cpu_seconds(child)
                if name in self._split:
                    found[f"{name} event loop"] = _cpu_seconds(pid, pid)
        return found

    def start(self) -> None:
        self._before, self._started = self._now(), time.monotonic()

    def stop(self) -> dict[str, float]:
        """CPU seconds per process, plus `wall` seconds."""
        after = self._now()
        used = {k: round(after[k] - self._before.get(k, after[k]), 3) for k in after}
        used["wall"] = round(time.monotonic() - self._started, 3)
        return used
