"""Stopping: every service process exits on SIGTERM within its grace period even while the
broker is down, and exits by itself when the runner that started it is gone (a test or
benchmark killed with `timeout` must not leave services spinning on a dead broker)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from deploy.local.run import REPO, ServiceProcess, wait_ready
from tests.platform import Platform

pytestmark = [pytest.mark.real, pytest.mark.timeout(600)]

# Routes that refuse a guardian of another case (403 or 404) and audit it under `case-other`.
REFUSED = {"intake": "/cases/case-other", "records": "/cases/case-other/checklist"}
# The services' default grace (SOP_SHUTDOWN_GRACE_S) plus time to start Python's exit: a
# liveness bound, not a speed figure; a process that ignores SIGTERM never exits at all.
EXIT_WITHIN_S = 20 + 15


def _exit_seconds(services: list[ServiceProcess]) -> dict[str, float | None]:
    """Seconds until each process exited (None: still running at EXIT_WITHIN_S)."""
    began = time.monotonic()
    exited: dict[str, float | None] = {}
    while len(exited) < len(services) and time.monotonic() - began < EXIT_WITHIN_S:
        for service in services:
            if service.name not in exited and service.process.poll() is not None:
                exited[service.name] = round(time.monotonic() - began, 1)
        time.sleep(0.2)
    return {s.name: exited.get(s.name) for s in services}


def test_every_service_stops_on_sigterm_while_the_broker_is_down(platform: Platform) -> None:
    services = list(platform.services.values())
    platform.stop_server("kafka")
    try:
        # Refused requests, each an audit record that no broker takes.
        headers = platform.auth("guardian", "guardian-shutdown", case_ids=("case-none",))
        with httpx.Client(timeout=10) as http:
            for name, path in REFUSED.items():
                assert http.get(platform.url(name) + path, headers=headers).status_code in (
                    403,
                    404,
                )
        time.sleep(20)  # long enough for every client to be retrying the broker
        for service in services:
            service.process.send_signal(signal.SIGTERM)
        seconds = _exit_seconds(services)
    finally:
        platform.start_server("kafka")
    print(f"\nseconds from SIGTERM to exit, broker down: {seconds}")
    assert all(s is not None for s in seconds.values()), seconds
    for service in services:
        log = service.log_path.read_text(errors="replace")
        assert "service stopped" in log, f"{service.name} did not stop in order"

    # The audit records the stopped processes could not publish are published by the next.
    for name in platform.services:
        platform.restart(name)
    officer = platform.auth("compliance-officer", "officer-shutdown")
    deadline = time.monotonic() + 120
    services_seen: set[str] = set()
    with httpx.Client(timeout=10) as http:
        while services_seen != set(REFUSED) and time.monotonic() < deadline:
            time.sleep(1)
            found = http.get(f"{platform.url('audit')}/audit/cases/case-other", headers=officer)
            records = found.json()["records"] if found.status_code == 200 else []
            services_seen = {r["service"] for r in records if r["outcome"] == "denied"}
    assert services_seen == set(REFUSED)


def test_a_service_whose_runner_died_stops_by_itself(platform: Platform, tmp_path: Path) -> None:
    """The runner is a process that starts intake as `deploy/local/run.py` does, then is
    killed with SIGKILL; intake notices it was orphaned and stops."""
    port = platform.ports["intake"] + 100
    runner_code = (
        "import sys, time; from pathlib import Path; "
        "from deploy.local.run import start_services; "
        f"(s,) = start_services({platform.env!r}, Path({str(tmp_path)!r}), {{'intake': {port}}}); "
        "print(s.process.pid, flush=True); time.sleep(3600)"
    )
    runner = subprocess.Popen(
        [sys.executable, "-c", runner_code], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert runner.stdout is not None
    intake_pid = int(runner.stdout.readline())
    intake = ServiceProcess("intake", port, _Adopted(intake_pid), tmp_path / "intake.log")  # type: ignore[arg-type]
    try:
        wait_ready([intake])
        runner.kill()
        runner.wait()
        seconds = _exit_seconds([intake])
    finally:
        if _Adopted(intake_pid).poll() is None:
            os.kill(intake_pid, signal.SIGKILL)
    print(f"\nseconds from the runner's death to intake's exit: {seconds}")
    assert seconds["intake"] is not None
    assert "service stopped" in (tmp_path / "intake.log").read_text(errors="replace")


class _Adopted:
    """`poll()` for a process that is not our child (its parent was the killed runner)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def poll(self) -> int | None:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return 0
        return 0 if _is_zombie(self.pid) else None


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (FileNotFoundError, IndexError):
        return True
