"""What every benchmark shares: the real stack, service processes, tokens, cases, the machine.

`python -m bench` re-runs itself under `deploy/local/stack.py exec` unless the stack's variables
are already set, so every run starts from fresh servers that stop by themselves afterwards.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from deploy.local.run import ServiceProcess, start_services, stop_services
from shared.auth import Role, TokenIssuer, dev_identity_issuer, provision_local_auth
from shared.bus import KafkaEventPublisher
from shared.runtime import PARENT_PID_VAR
from shared.settings import StackSettings
from shared.topics import ensure_topics
from tests.support import sample_event

REPO = Path(__file__).resolve().parents[1]
STACK_VARS = ("KAFKA_BOOTSTRAP_SERVERS", "MONGO_URL", "S3_ENDPOINT")
ORGANIZATION = "org-bench"
PROFILES = REPO / "bench" / "results" / "profiles"


@dataclass(frozen=True)
class Options:
    quick: bool = False
    repeats: int = 3
    # Run the services under pyinstrument; the text profile lands in bench/results/profiles/.
    profile: bool = False


def stack_present() -> bool:
    return all(os.environ.get(name) for name in STACK_VARS)


def reexec_under_stack(argv: list[str]) -> int:
    """Run `python -m bench ARGV` inside a fresh stack (started and stopped by stack.py)."""
    command = [
        sys.executable,
        str(REPO / "deploy" / "local" / "stack.py"),
        "exec",
        "--",
        sys.executable,
        "-m",
        "bench",
        *argv,
    ]
    # FerretDB's metrics listener, so a benchmark can count the commands the services sent.
    env = {**os.environ, "SOP_FERRETDB_DEBUG_ADDR": f"127.0.0.1:{free_port()}"}
    return subprocess.call(command, cwd=REPO, env=env)


def store_commands() -> dict[str, float]:
    """Commands the MongoDB-compatible server has answered so far, by command name (FerretDB's
    metrics; empty when the listener is off or the server is another one)."""
    address = os.environ.get("SOP_FERRETDB_DEBUG_ADDR")
    if not address:
        return {}
    try:
        with urllib.request.urlopen(f"http://{address}/debug/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return {}
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("ferretdb_client_requests_total{"):
            labels, value = line.rsplit(" ", 1)
            command = labels.split('command="', 1)[1].split('"', 1)[0]
            counts[command] = counts.get(command, 0) + float(value)
    return counts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    models = [
        ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")
    ]
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    total_kib = next(int(ln.split()[1]) for ln in meminfo if ln.startswith("MemTotal:"))
    return {
        "cpu_model": models[0] if models else platform.processor() or "unknown",
        "cpu_count": os.cpu_count(),
        "memory_gib": round(total_kib / 1024**2, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def git_state() -> dict[str, Any]:
    """Read-only: the commit and whether the tree differs from it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    return {
        "git_commit": git("rev-parse", "HEAD") or "unknown",
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def environment(options: Options) -> dict[str, Any]:
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **git_state(),
        "machine": machine(),
        "options": {
            "quick": options.quick,
            "repeats": options.repeats,
            "profile": options.profile,
        },
    }


@dataclass
class Platform:
    """The stack of one run: a namespace of its own, a token issuer, a scratch directory."""

    stack: StackSettings
    issuer: TokenIssuer
    auth_env: dict[str, str]
    scratch: Path
    options: Options
    publisher: KafkaEventPublisher
    log_dir: Path
    benchmark: str = "bench"
    _cases: int = field(default=0)

    def token(self, role: Role, *, organization: str | None = None, ttl_s: int = 4 * 3600) -> str:
        return self.issuer.issue(
            subject=f"bench-{role}", role=role, organization=organization, ttl_s=ttl_s
        )

    def headers(
        self, role: Role = "intake-staff", organization: str | None = None
    ) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, organization=organization)}"}

    def service_env(self) -> dict[str, str]:
        stack_env = {
            name: os.environ[name]
            for name in os.environ
            if name.startswith(("S3_", "KAFKA_", "MONGO_"))
        }
        return {
            **stack_env,
            **self.auth_env,
            "SOP_NAMESPACE": self.stack.sop_namespace,
            "SOP_ENVIRONMENT": "test",
        }

    @asynccontextmanager
    async def service(
        self, name: str, extra_env: Mapping[str, str] | None = None
    ) -> AsyncIterator[ServiceProcess]:
        """One service as its own process (as in production), ready, stopped on exit."""
        env = {**self.service_env(), **(extra_env or {})}
        if self.options.profile:
            started = [await asyncio.to_thread(self._start_profiled, name, env)]
        else:
            started = await asyncio.to_thread(
                start_services, env, self.log_dir, {name: free_port()}
            )
        try:
            await wait_ready(started[0])
            yield started[0]
        finally:
            await asyncio.to_thread(stop_services, started, 120)
            if self.options.profile:
                await asyncio.to_thread(self._render_profile, name)

    def _render_profile(self, name: str) -> None:
        """The session as text: the call tree, and a flat list of where the loop spent time."""
        session = self.scratch / f"{name}.pyisession"
        base = [sys.executable, "-m", "pyinstrument", "--load", str(session), "-r", "text"]
        flat = ["--show-all", "-p", "flat=true", "-p", "flat_time=self"]
        for suffix, extra in (("", []), (".flat", flat)):
            out = PROFILES / f"{self.benchmark}.{name}{suffix}.txt"
            subprocess.run([*base, "--no-color", *extra, "-o", str(out)], check=False)

    def _start_profiled(self, name: str, env: Mapping[str, str]) -> ServiceProcess:
        """`python -m services.<name>` under pyinstrument (async-aware, main thread)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        PROFILES.mkdir(parents=True, exist_ok=True)
        port = free_port()
        out = self.scratch / f"{name}.pyisession"
        command = [sys.executable, "-m", "pyinstrument", "-r", "pyisession", "-o", str(out)]
        command += ["-m", f"services.{name}"]
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                command,
                cwd=REPO,
                env={
                    **os.environ,
                    **env,
                    f"{name.upper()}_HTTP_PORT": str(port),
                    PARENT_PID_VAR: str(os.getpid()),
                },
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return ServiceProcess(name, port, process, log_path)

    async def open_case(
        self, base_url: str, prefix: str = "bench", organization: str = ORGANIZATION
    ) -> str:
        """Publish case.submitted and wait until the records checklist answers."""
        self._cases += 1
        case_id = f"{prefix}-{secrets.token_hex(3)}-{self._cases}"
        await self.publisher.publish([sample_event(case_id, organization_id=organization)])
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(base_url=base_url, trust_env=False) as http:
            while time.monotonic() < deadline:
                response = await http.get(f"/cases/{case_id}/checklist", headers=self.headers())
                if response.status_code == 200:
                    return case_id
                await asyncio.sleep(0.1)
        raise RuntimeError(f"case {case_id} has no checklist after 60 s")


async def wait_ready(service: ServiceProcess, within_s: float = 90) -> None:
    deadline = time.monotonic() + within_s
    async with httpx.AsyncClient(trust_env=False, timeout=2) as http:
        while time.monotonic() < deadline:
            if service.process.poll() is not None:
                raise RuntimeError(f"{service.name} exited; see {service.log_path}")
            try:
                if (await http.get(f"{service.url}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{service.name} not ready within {within_s:.0f}s; see {service.log_path}")


@asynccontextmanager
async def platform_for(options: Options, benchmark: str) -> AsyncIterator[Platform]:
    """The running stack with a fresh namespace, topics, auth and scratch directory."""
    run = os.environ.get("SOP_RUN_ID", "local")
    namespace = f"b{run}_{secrets.token_hex(2)}_".lower()
    stack = StackSettings(sop_namespace=namespace)
    scratch = Path(tempfile.mkdtemp(prefix="sop-bench-"))
    try:
        auth_env = provision_local_auth(scratch / "auth")
        pem = await asyncio.to_thread(Path(auth_env["AUTH_DEV_IDENTITY_KEY_PATH"]).read_bytes)
        issuer = dev_identity_issuer(pem)
        await ensure_topics(stack)
        publisher = KafkaEventPublisher(stack)
        await publisher.start()
        try:
            yield Platform(
                stack, issuer, auth_env, scratch, options, publisher, scratch / "logs", benchmark
            )
        finally:
            await publisher.stop()
    finally:
        keep = os.environ.get("BENCH_KEEP_LOGS")
        if keep:
            shutil.copytree(scratch / "logs", keep, dirs_exist_ok=True)
        shutil.rmtree(scratch, ignore_errors=True)
