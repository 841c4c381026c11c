"""The whole platform as separate processes against the real stack (`platform` fixture), for
end-to-end and chaos tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy.local.run import (
    REPO,
    SERVICES,
    ServiceProcess,
    links_between,
    start_services,
    stop_services,
    wait_ready,
)
from deploy.local.stack import EXTERNAL_VAR
from shared.auth import Role, TokenIssuer
from shared.settings import StackSettings

PORT_BASE = int(os.environ.get("SOP_PLATFORM_PORT_BASE", "18201"))
# The PACS a platform test may push DICOM from (C-STORE), and the hospital it stands for.
DIMSE_CALLING_AE = "TESTPACS"
DIMSE_ORGANIZATION = "org-pacs"


def free_port() -> int:
    """A TCP port nobody listens on now (others run stacks on this machine too)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Platform:
    """The running services; kill and restart them by name."""

    stack: StackSettings
    env: dict[str, str]
    log_dir: Path
    ports: dict[str, int]
    services: dict[str, ServiceProcess]
    issuer: TokenIssuer

    def url(self, name: str) -> str:
        return self.services[name].url

    def auth(
        self, role: Role, subject: str, *, case_ids: tuple[str, ...] = (), org: str | None = None
    ) -> dict[str, str]:
        token = self.issuer.issue(subject=subject, role=role, case_ids=case_ids, organization=org)
        return {"Authorization": f"Bearer {token}"}

    def kill(self, name: str) -> None:
        """SIGKILL: no graceful stop, no offsets committed, no outbox drained."""
        process = self.services[name].process
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait()

    def stop_server(self, server: str) -> None:
        stop_server(server)

    def start_server(self, server: str) -> None:
        start_server(server)

    def restart(self, name: str) -> None:
        (started,) = start_services(self.env, self.log_dir, {name: self.ports[name]})
        self.services[name] = started
        wait_ready([started])


def stop_server(server: str) -> None:
    """Stop one of the stack's servers (kafka, mongo, minio) as an outage would."""
    _stack_command(f"Stack(Path(state)).down(only=[{server!r}])")


def start_server(server: str) -> None:
    """Start the stopped servers again on the same ports and data, and wait until they answer."""
    _stack_command("Stack(Path(state)).up(free=False)")


def _stack_command(statement: str) -> None:
    state = os.environ.get("SOP_STACK_STATE_DIR")
    if not state:
        pytest.skip("needs the stack started by `stack.py exec` (SOP_STACK_STATE_DIR)")
    # Without the stack's variables, `up` starts what is not running instead of assuming the
    # servers are someone else's.
    env = {k: v for k, v in os.environ.items() if k not in EXTERNAL_VAR.values()}
    code = f"from pathlib import Path; from deploy.local.stack import Stack; state={state!r}; "
    subprocess.run([sys.executable, "-c", code + statement], env=env, cwd=REPO, check=True)


@pytest.fixture
def platform_env() -> dict[str, str]:
    """Extra environment for the services (a test module may override this fixture)."""
    return {}


@pytest.fixture
def platform(
    topics: StackSettings,
    auth_env: dict[str, str],
    issuer: TokenIssuer,
    tmp_path: Path,
    platform_env: dict[str, str],
) -> Iterator[Platform]:
    env = {
        "SOP_NAMESPACE": topics.sop_namespace,
        "SOP_ENVIRONMENT": "test",
        "ASSIGNMENT_LOAD_DEMO_ROSTER": "true",
        **auth_env,
        **platform_env,
    }
    ports = {name: PORT_BASE + i for i, name in enumerate(SERVICES)}
    # Records' DICOM C-STORE SCP is on, as in `make run`; a restarted records takes the same port.
    env.setdefault("RECORDS_DIMSE_PORT", str(free_port()))
    env.setdefault("RECORDS_DIMSE_CALLING_AES", json.dumps({DIMSE_CALLING_AE: DIMSE_ORGANIZATION}))
    # Where each service finds the others: fixed here, so one restarted alone finds them too.
    env.update(links_between(ports))
    log_dir = tmp_path / "logs"
    started = {s.name: s for s in start_services(env, log_dir, ports)}
    platform = Platform(topics, env, log_dir, ports, started, issuer)
    try:
        wait_ready(list(started.values()))
        yield platform
    finally:
        stop_services(list(platform.services.values()))
