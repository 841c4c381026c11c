"""`make run`: the real stack, then the five services as processes, until Ctrl-C.

Also used by the end-to-end tests to start the services against a test stack.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # run as a script by `make run`

from shared.auth import Role, dev_identity_issuer, provision_local_auth  # noqa: E402
from shared.runtime import PARENT_PID_VAR  # noqa: E402

MAIL_PORT = 1025
# The records service's DICOM C-STORE SCP (DICOM's registered port is 104; 11112 needs no root).
DIMSE_PORT = 11112
# A PACS on this machine calling as DEVPACS fills the cases of organization org-dev.
DIMSE_CALLING_AES = '{"DEVPACS": "org-dev"}'
# The services that own data and meet through Kafka, each with its JSON API.
API_SERVICES = {
    "intake": 8001,
    "records": 8002,
    "assignment": 8003,
    "reports": 8004,
    "notify": 8005,
    "audit": 8006,
}
# ... and the web front door: pages only, calling those APIs with the person's own token.
SERVICES = {**API_SERVICES, "web": 8000}


@dataclass
class ServiceProcess:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_services(
    env: Mapping[str, str], log_dir: Path, ports: Mapping[str, int] = SERVICES
) -> list[ServiceProcess]:
    """Start every service as `python -m services.<name>`, logs to `log_dir/<name>.log`."""
    log_dir.mkdir(parents=True, exist_ok=True)
    started = []
    links = links_between(ports)
    for name, port in ports.items():
        service_env = {
            **os.environ,
            **links,
            **env,
            f"{name.upper()}_HTTP_PORT": str(port),
            PARENT_PID_VAR: str(os.getpid()),  # stop if this runner dies without stopping them
        }
        log_path = log_dir / f"{name}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", f"services.{name}"],
                cwd=REPO,
                env=service_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Own session: a terminal's Ctrl-C reaches only run.py, which stops them in order.
                start_new_session=True,
            )
        started.append(ServiceProcess(name, port, process, log_path))
    return started


def links_between(ports: Mapping[str, int]) -> dict[str, str]:
    """Where services send people to one another (links in pages, emails and reports), and
    where the web front door finds each service's API."""
    url = {name: f"http://127.0.0.1:{ports.get(name, port)}" for name, port in SERVICES.items()}
    web = url["web"]
    return {
        "INTAKE_RECORDS_PUBLIC_URL": url["records"],
        "REPORTS_RECORDS_BASE_URL": url["records"],
        # People open pages of the web front door; family links carry their case token.
        "NOTIFY_CASE_LINK_TEMPLATE": web + "/c/{case_id}?access_token={token}",
        "NOTIFY_REPORT_LINK_TEMPLATE": web + "/c/{case_id}?access_token={token}#report",
        "NOTIFY_STAFF_CASE_LINK_TEMPLATE": web + "/staff/cases/{case_id}",
        "NOTIFY_EXPERT_LINK_TEMPLATE": web + "/expert/cases/{case_id}",
        "NOTIFY_EXPERT_OFFERS_LINK": web + "/expert/offers",
        "NOTIFY_REPORTS_URL": url["reports"],
        **{f"WEB_{name.upper()}_URL": url[name] for name in API_SERVICES if name != "audit"},
        "WEB_PUBLIC_URL": web,
        # The web front door passes the family's address on for intake's rate limit.
        "INTAKE_TRUSTED_PROXIES": '["127.0.0.1"]',
        "WEB_BOARD_PUBLIC_URL": url["notify"] + "/board",
    }


def wait_ready(services: list[ServiceProcess], timeout: float = 90) -> None:
    """Poll every `/readyz` until all answer 200; raise naming the ones that did not."""
    deadline = time.monotonic() + timeout
    waiting = list(services)
    while waiting and time.monotonic() < deadline:
        for service in list(waiting):
            if service.process.poll() is not None:
                raise RuntimeError(f"{service.name} exited; see {service.log_path}")
            try:
                with urllib.request.urlopen(f"{service.url}/readyz", timeout=2) as response:
                    if response.status == 200:
                        waiting.remove(service)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
        time.sleep(0.2)
    if waiting:
        names = ", ".join(s.name for s in waiting)
        raise RuntimeError(f"not ready within {timeout:.0f}s: {names}")


def stop_services(services: list[ServiceProcess], timeout: float = 20) -> None:
    """SIGTERM what we started (graceful: consumers commit and leave their groups), then kill."""
    for service in services:
        if service.process.poll() is None:
            service.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for service in services:
        remaining = max(0.1, deadline - time.monotonic())
        try:
            service.process.wait(remaining)
        except subprocess.TimeoutExpired:
            service.process.kill()
            service.process.wait()


def read_env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def _token(env: Mapping[str, str], role: Role, subject: str) -> str:
    """A development token signed by the local key (the board link printed at start)."""
    issuer = dev_identity_issuer(Path(env["AUTH_DEV_IDENTITY_KEY_PATH"]).read_bytes())
    return issuer.issue(subject=subject, role=role, ttl_s=8 * 3600)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    state = REPO / ".state" / "stack"
    stack = [sys.executable, str(REPO / "deploy" / "local" / "stack.py")]
    subprocess.run([*stack, "up", "--state-dir", str(state)], check=True)
    env = read_env_file(state / "stack.env")
    # A development signing key stands in for the identity provider (see shared/auth.py).
    env.update(provision_local_auth(state / "auth"))
    env["ASSIGNMENT_LOAD_DEMO_ROSTER"] = "true"
    # The sign-in page's demonstration accounts (never in production; see services/web).
    env["WEB_DEV_SIGNIN_KEY_PATH"] = env["AUTH_DEV_IDENTITY_KEY_PATH"]
    env["NOTIFY_EXPERT_EMAIL_TEMPLATE"] = "{expert_id}@experts.localhost"
    # The demo program bills (intake's demonstration fee schedule) and requires financial
    # clearance: the coordinator marks it on the case page before an expert is offered the case.
    env["INTAKE_FINANCIAL_CLEARANCE_REQUIRED"] = os.environ.get(
        "INTAKE_FINANCIAL_CLEARANCE_REQUIRED", "true"
    )
    env["RECORDS_DIMSE_PORT"] = os.environ.get("RECORDS_DIMSE_PORT", str(DIMSE_PORT))
    env["RECORDS_DIMSE_CALLING_AES"] = os.environ.get(
        "RECORDS_DIMSE_CALLING_AES", DIMSE_CALLING_AES
    )
    # SIGINT too: a script that starts `make run` in the background inherits SIGINT ignored,
    # and Python then leaves it so; Ctrl-C and `kill -INT` must stop everything all the same.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    mailbox = state / "mail"
    # A local mail sink: every email the platform sends lands in this maildir, unsent.
    sink = ["-n", "-l", f"127.0.0.1:{MAIL_PORT}", "-c", "aiosmtpd.handlers.Mailbox", str(mailbox)]
    mail_sink = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", *sink],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    env["NOTIFY_SMTP_HOST"], env["NOTIFY_SMTP_PORT"] = "127.0.0.1", str(MAIL_PORT)
    # Every service's spans, one JSON line each (`make trace CASE=<case id>` reads them); an
    # OTLP collector named by OTEL_EXPORTER_OTLP_ENDPOINT gets them too.
    env.setdefault(
        "SOP_TRACES_FILE", os.environ.get("SOP_TRACES_FILE", str(state / "traces.jsonl"))
    )
    services = start_services(env, state / "services")
    try:
        wait_ready(services)
        web = next(s for s in services if s.name == "web")
        print("\nThe platform is running (Ctrl-C stops everything `make run` started).")
        print(f"\n  Open this first:  {web.url}/\n")
        for service in services:
            if service.name in API_SERVICES:
                print(f"  {service.name:<11} {service.url}/docs   (ready: {service.url}/readyz)")
        dimse = f"127.0.0.1:{env['RECORDS_DIMSE_PORT']}, called AE SOP-RECORDS"
        print(f"  dicom       {dimse}, calling AEs {env['RECORDS_DIMSE_CALLING_AES']}")
        print(f"  logs        {state / 'services'}")
        print(f"  emails      {mailbox} (a maildir; nothing leaves this machine)")
        print(f"  traces      {env['SOP_TRACES_FILE']} (make trace CASE=<case id>)")
        staff = _token(env, "intake-staff", "staff-1")
        print(f"  staff board http://127.0.0.1:{SERVICES['notify']}/board?access_token={staff}")
        print("  a token:    make token ROLE=intake-staff SUBJECT=staff-1")
        while all(s.process.poll() is None for s in services):
            time.sleep(0.5)
        crashed = [s.name for s in services if s.process.poll() is not None]
        print(f"stopped because a service exited: {', '.join(crashed)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping...")
        return 0
    finally:
        stop_services(services)
        mail_sink.terminate()
        mail_sink.wait(10)
        subprocess.run([*stack, "down", "--state-dir", str(state)], check=False)


if __name__ == "__main__":
    sys.exit(main())
