"""Orthanc with its DICOMweb plugin and its C-STORE SCP, the server a hospital would pick
instead, on loopback.

Debian's `orthanc` and `orthanc-dicomweb` are installed with apt-get when missing (as root).
The harness starts its own Orthanc with a generated configuration (own storage and SQLite
index in a scratch directory, default settings otherwise), never the system service. Orthanc
1.10 has no bind-address option and listens on every interface, so a small LD_PRELOAD shim
turns its wildcard `bind()` into loopback; the harness checks the listening addresses (HTTP and
DICOM) and refuses to go on otherwise. Its DICOM server stores what any calling AE pushes to
AE_TITLE, as a PACS archive set up to accept its modalities would.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.harness import free_port

PACKAGES = ("orthanc", "orthanc-dicomweb")
BINARY = "/usr/sbin/Orthanc"
AE_TITLE = "ORTHANC"
# DCMTK (Orthanc's DICOM layer) as Debian builds it disables Nagle's algorithm only when asked:
# without this each C-STORE waits for a delayed ACK (~40 ms), and Orthanc's C-STORE would be
# measured at a fifth of what it can do.
ENVIRONMENT = {"TCP_NODELAY": "1"}
LOOPBACK_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* Orthanc 1.10 binds its HTTP server to every interface; keep it on loopback. */
int bind(int fd, const struct sockaddr *addr, socklen_t len) {
    static int (*real_bind)(int, const struct sockaddr *, socklen_t);
    if (!real_bind) real_bind = dlsym(RTLD_NEXT, "bind");
    if (addr && addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        struct sockaddr_in a;
        memcpy(&a, addr, sizeof a);
        if (a.sin_addr.s_addr == htonl(INADDR_ANY)) {
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            return real_bind(fd, (const struct sockaddr *)&a, sizeof a);
        }
    } else if (addr && addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 a;
        memcpy(&a, addr, sizeof a);
        if (memcmp(&a.sin6_addr, &in6addr_any, sizeof a.sin6_addr) == 0) {
            a.sin6_addr = in6addr_loopback;
            return real_bind(fd, (const struct sockaddr *)&a, sizeof a);
        }
    }
    return real_bind(fd, addr, len);
}
"""


class OrthancUnavailable(Exception):
    """Orthanc cannot be installed or started here; the message says why."""


@dataclass(frozen=True)
class Orthanc:
    url: str
    pid: int
    version: str
    plugin_version: str
    dicom_port: int

    @property
    def stow_url(self) -> str:
        return f"{self.url}/dicom-web/studies"


def ensure_installed() -> None:
    if Path(BINARY).exists() and _plugin_path():
        return
    if os.geteuid() != 0:
        raise OrthancUnavailable(f"install {' '.join(PACKAGES)} (apt-get, as root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Another apt-get may hold the lock for a while; apt waits for it with this option.
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=600", "-y", "-q"]
    subprocess.run([*apt, "install", "--no-install-recommends", *PACKAGES], check=False, env=env)
    if not (Path(BINARY).exists() and _plugin_path()):
        subprocess.run([*apt[:-1], "update"], check=False, env=env)
        subprocess.run([*apt, "install", "--no-install-recommends", *PACKAGES], check=True, env=env)
    # The package enables and starts the system service; this benchmark never uses it.


def _plugin_path() -> str | None:
    listed = subprocess.run(["dpkg", "-L", "orthanc-dicomweb"], capture_output=True, text=True)
    paths = [p for p in listed.stdout.splitlines() if "DicomWeb" in p and ".so" in p]
    return next((p for p in paths if os.path.isfile(p)), None)


def _package_version(name: str) -> str:
    done = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", name], capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


def _build_shim(directory: Path) -> Path:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise OrthancUnavailable("a C compiler (cc) is needed to keep Orthanc on loopback")
    source, shim = directory / "loopback.c", directory / "loopback.so"
    source.write_text(LOOPBACK_SHIM)
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-O2", "-o", str(shim), str(source), "-ldl"], check=True
    )
    return shim


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, _, hex_port = fields[1].partition(":")
            if fields[3] == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


@contextmanager
def running_orthanc(directory: Path) -> Iterator[Orthanc]:
    """Start Orthanc on 127.0.0.1 with its data in `directory`; stop it (by pid) on exit."""
    ensure_installed()
    plugin = _plugin_path()
    directory.mkdir(parents=True, exist_ok=True)
    shim = _build_shim(directory)
    port, dicom_port = free_port(), free_port()
    config = {
        "Name": "bench",
        "StorageDirectory": str(directory / "storage"),
        "IndexDirectory": str(directory / "index"),
        "HttpPort": port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomServerEnabled": True,
        "DicomAet": AE_TITLE,
        "DicomPort": dicom_port,
        # Orthanc stores what any calling AE sends to AE_TITLE (records looks the calling AE
        # up in RECORDS_DIMSE_CALLING_AES, Orthanc in nothing).
        "DicomAlwaysAllowStore": True,
        "DicomCheckCalledAet": True,
        "OrthancExplorerEnabled": False,
        "WebDavEnabled": False,
        "Plugins": [plugin],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False},
    }
    config_path = directory / "orthanc.json"
    config_path.write_text(json.dumps(config, indent=2))
    log = (directory / "orthanc.log").open("ab")
    process = subprocess.Popen(
        [BINARY, str(config_path)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=directory,
        env={**os.environ, "LD_PRELOAD": str(shim), **ENVIRONMENT},
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        system = _wait_ready(process, url, directory / "orthanc.log")
        for listening in (port, dicom_port):
            addresses = _wait_listening(listening)
            if addresses != {"0100007F"}:
                raise OrthancUnavailable(f"Orthanc listens on {addresses}, not only 127.0.0.1")
        yield Orthanc(
            url=url,
            pid=process.pid,
            version=str(system.get("Version", "?")),
            plugin_version=_package_version("orthanc-dicomweb"),
            dicom_port=dicom_port,
        )
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def _wait_listening(port: int, within_s: float = 10) -> set[str]:
    """The addresses listening on `port` once there is one (the DICOM server may start after
    the HTTP one answers)."""
    deadline = time.monotonic() + within_s
    while not (addresses := _listening_addresses(port)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return addresses


def clear(url: str) -> None:
    """Delete every study Orthanc holds: it keeps one copy of a SOP instance and would answer
    a second push of the same study without storing it."""
    with httpx.Client(base_url=url, trust_env=False, timeout=120) as http:
        studies = http.get("/studies")
        studies.raise_for_status()
        for study in studies.json():
            http.delete(f"/studies/{study}").raise_for_status()


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise OrthancUnavailable(f"Orthanc exited with {process.returncode}:\n{tail}")
        try:
            response = httpx.get(f"{url}/system", timeout=2, trust_env=False)
            if response.status_code == 200:
                system: dict[str, object] = response.json()
                return system
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise OrthancUnavailable(f"Orthanc not ready within 60 s; see {log}")
