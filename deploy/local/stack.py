#!/usr/bin/env python3
"""Run the platform's backing servers (Kafka, MongoDB wire protocol, S3) as
plain local processes, for development and tests on a machine without Docker.

    stack.py provision                       fetch/build everything (and promtool) into the cache
    stack.py up [--state-dir D] [--free-ports]
    stack.py status|down [--state-dir D]
    stack.py exec [--keep] -- CMD ...        fresh stack around one command

Servers: Apache Kafka (KRaft, jars via Maven), FerretDB on PostgreSQL (Debian's
`postgresql`; or `mongod` if installed) and MinIO, both built from source with
the Go toolchain (FerretDB with our patch). All of
them listen on loopback only (127.0.0.1; MinIO insists on adding [::1] for its
own console). KAFKA_BOOTSTRAP_SERVERS / MONGO_URL /
S3_ENDPOINT in the environment mean "use that one, start nothing".
Stdlib only, so it runs before any virtualenv exists.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
KAFKA_VERSION = "4.1.1"  # passed to pom.xml as -Dkafka.version
FERRETDB_VERSION = "v1.24.2"  # the last 1.x; 2.x needs PostgreSQL's DocumentDB extension
# FerretDB 1.x on PostgreSQL, as released, applies update and findAndModify as read-then-write
# (two connections lose one of two `$inc`s) and writes equality filters as `_jsonb->$1 @> $2`,
# which no index serves (25 lookups/s by `_id` at 50k documents). Our patch makes those writes
# sequential per collection, looks `_id` up through its unique index and other indexed fields
# through GIN companion indexes (tests/integration/test_local_store.py proves each).
FERRETDB_PATCH = HERE / "ferretdb-postgresql.patch"
FERRETDB_BUILD = (  # names the patched binary in the cache: editing the patch rebuilds it
    f"{FERRETDB_VERSION}-pg-{hashlib.sha256(FERRETDB_PATCH.read_bytes()).hexdigest()[:10]}"
)
MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"
# Tools, not servers (`exec`/`up` never wait for them): promtool checks and unit-tests
# deploy/monitoring's alert rules and dashboard queries; helm and kubeconform render and check
# the Kubernetes chart offline (tests/unit/deploy/test_helm_chart.py). All in `make test`.
PROMETHEUS_VERSION = "v0.316.0"
HELM_VERSION = "v4.3.2"
KUBECONFORM_VERSION = "v0.8.0"
NAMES = ("kafka", "mongo", "minio")
TOOLS = ("promtool", "helm", "kubeconform")
EXTERNAL_VAR = {"kafka": "KAFKA_BOOTSTRAP_SERVERS", "mongo": "MONGO_URL", "minio": "S3_ENDPOINT"}
# As root, PostgreSQL data lives here (the postgres user cannot reach root's home).
POSTGRES_ROOT_DATA = Path("/var/lib/second-opinion")
FIXED_PORTS = {
    "kafka": 19092,
    "kafka_controller": 19093,
    "mongo": 27027,
    "postgres": 27028,
    "minio": 19000,
    "minio_console": 19001,
}
# Kafka loads every topic's metadata before it answers: a restart after a long session is slow.
READY_DEADLINE = {"kafka": 180.0, "mongo": 60.0, "minio": 60.0}
T0 = time.monotonic()
# What a start_* method hands back: the process, its readiness probe, the log to show on failure.
Starting = tuple["subprocess.Popen[bytes]", Callable[[], bool], Path]


class StackError(Exception):
    """A failure with a message meant for the user; main() prints it and exits 1."""


def say(msg: str) -> None:
    # Progress goes to stderr so `up` stdout (the env lines) stays machine-readable.
    print(f"[stack {time.monotonic() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def cache_root() -> Path:
    return Path(os.environ.get("SOP_CACHE") or Path.home() / ".cache" / "second-opinion")


def need(tool: str, install_hint: str) -> str:
    path = shutil.which(tool)
    if not path:
        raise StackError(f"`{tool}` is not on PATH: install {install_hint}")
    return path


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no {path})"


def run_logged(cmd: list[str], what: str, log: Path, **kw: Any) -> None:
    """Run a build step with output to a log file; on failure show the tail of it."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        rc = subprocess.run(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kw
        ).returncode
    if rc != 0:
        raise StackError(
            f"{what} failed (exit {rc}): {' '.join(cmd)}\n"
            f"--- last lines of {log} ---\n{tail(log, 30)}"
        )


@contextmanager
def provision_lock() -> Iterator[None]:
    # Parallel `exec` runs (e.g. two test shells) must not build the same thing twice.
    cache_root().mkdir(parents=True, exist_ok=True)
    with (cache_root() / ".provision.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


# ----------------------------------------------------------------- provisioning
def kafka_libs() -> Path:
    return cache_root() / f"kafka-{KAFKA_VERSION}" / "libs"


def provision_kafka() -> Path:
    libs, pom = kafka_libs(), HERE / "pom.xml"
    # The stamp holds the pom's hash: editing the dependency list refreshes the jars.
    stamp = libs.parent / "libs.sha256"
    digest = hashlib.sha256(pom.read_bytes() + KAFKA_VERSION.encode()).hexdigest()
    if libs.is_dir() and stamp.is_file() and stamp.read_text() == digest:
        return libs
    need("java", "a Java 17+ runtime (apt-get install openjdk-17-jre-headless)")
    mvn = need("mvn", "Maven (apt-get install maven)")
    say(f"provisioning kafka {KAFKA_VERSION} jars via mvn...")
    started, tmp = time.monotonic(), libs.parent / "libs.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    run_logged(
        [
            mvn,
            "-B",
            "-q",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-Dkafka.version={KAFKA_VERSION}",
            f"-DoutputDirectory={tmp}",
        ],
        "mvn copy of the Kafka jars",
        libs.parent / "mvn.log",
    )
    shutil.rmtree(libs, ignore_errors=True)
    tmp.rename(libs)  # only a complete jar set ever sits at `libs`
    stamp.write_text(digest)
    say(
        f"kafka jars ready ({len(list(libs.glob('*.jar')))} jars, "
        f"{time.monotonic() - started:.0f}s)"
    )
    return libs


def go_env() -> dict[str, str]:
    # Pure-Go builds: no C compiler needed, and the binaries are static. GOWORK=off: a module
    # zip may carry its developers' go.work (Prometheus' does), naming folders not in the zip.
    return {**os.environ, "CGO_ENABLED": "0", "GOWORK": "off"}


def refuse_sqlite_layout(data: Path) -> None:
    """A state dir from before the PostgreSQL store holds FerretDB's SQLite files, whose cases
    are version chains the services no longer read: starting on it would show an empty platform
    beside data nobody can reach, so refuse with what to do instead."""
    if any(data.glob("*.sqlite")):
        raise StackError(
            f"{data} holds the old SQLite store (cases as version chains), which this version "
            "no longer reads. Its data is local test data: stop the stack (`make stack-down`), "
            f"remove {data.parent} and start again; or check out a commit before the PostgreSQL "
            "store to keep using it."
        )


def build_go_module(
    module: str,
    version: str,
    pkg: str,
    out: Path,
    logs: Path,
    patch: Path | None = None,
) -> None:
    """Build `pkg` from a module version's source (with `patch` applied), outside any module
    of ours.

    `go install mod@version` can fail when the module proxy refuses the
    deprecation lookup, and FerretDB's source also needs build/version/version.txt
    (it is generated, not in the module zip) or the binary panics at start."""
    go = need("go", "a Go toolchain >= 1.24 on PATH (distribution packages are often older)")
    res = subprocess.run(
        [go, "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True,
        text=True,
        env=go_env(),
    )
    info = json.loads(res.stdout or "{}") if res.stdout.strip().startswith("{") else {}
    if res.returncode != 0 or "Dir" not in info:
        raise StackError(
            f"go mod download {module}@{version} failed: {info.get('Error') or res.stderr[-2000:]}"
        )
    with tempfile.TemporaryDirectory(prefix="sop-gobuild-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(info["Dir"], src)
        for d, _, files in os.walk(src):  # the module cache is read-only
            os.chmod(d, 0o755)
            for f in files:
                os.chmod(os.path.join(d, f), 0o644)
        if patch is not None:
            run_logged(
                [need("git", "git"), "apply", "--whitespace=nowarn", str(patch)],
                f"applying {patch.name} to {module}@{version}",
                logs,
                cwd=src,
            )
        version_txt = src / "build" / "version" / "version.txt"
        if version_txt.parent.is_dir():
            version_txt.write_text(version + "\n")
        partial = out.with_name(out.name + ".partial")
        run_logged(
            [go, "build", "-trimpath", "-buildvcs=false", "-o", str(partial), pkg],
            f"go build of {module}@{version}",
            logs,
            cwd=src,
            env=go_env(),
        )
        partial.rename(out)


def provision_go_binary(
    name: str,
    module: str,
    version: str,
    pkg: str,
    try_install: bool,
    patch: Path | None = None,
    build: str | None = None,
) -> Path:
    out = cache_root() / "bin" / f"{name}-{build or version}" / name
    if os.access(out, os.X_OK):
        return out
    need("go", "a Go toolchain >= 1.24 on PATH (distribution packages are often older)")
    say(f"provisioning {name} {version} (go build, takes minutes on a cold cache)...")
    started, logs = time.monotonic(), cache_root() / "logs" / f"{name}-build.log"
    out.parent.mkdir(parents=True, exist_ok=True)
    if not try_install or patch:
        build_go_module(module, version, pkg, out, logs, patch)
    else:
        # GOBIN is a scratch dir so a half-finished install is never mistaken for the binary.
        gobin = out.parent / "gobin.partial"
        shutil.rmtree(gobin, ignore_errors=True)
        try:
            run_logged(
                ["go", "install", "-trimpath", f"{module}@{version}"],
                f"go install {module}@{version}",
                logs,
                cwd=out.parent,
                env={**go_env(), "GOBIN": str(gobin)},
            )
            (gobin / name).rename(out)
        except StackError as exc:
            say(f"go install failed, building from the module source instead:\n{exc}")
            build_go_module(module, version, pkg, out, logs)
        finally:
            shutil.rmtree(gobin, ignore_errors=True)
    say(f"{name} ready ({time.monotonic() - started:.0f}s): {out}")
    return out


def provision_promtool() -> Path:
    # Built from the module source: Prometheus' go.mod has replace directives, which
    # `go install mod@version` refuses.
    return provision_go_binary(
        "promtool",
        "github.com/prometheus/prometheus",
        PROMETHEUS_VERSION,
        "./cmd/promtool",
        try_install=False,
    )


def provision(which: tuple[str, ...] = NAMES + TOOLS) -> dict[str, Path]:
    with provision_lock():
        paths: dict[str, Path] = {}
        if "kafka" in which:
            paths["kafka"] = provision_kafka()
        if "mongo" in which and not shutil.which("mongod"):
            paths["mongo"] = provision_go_binary(
                "ferretdb",
                "github.com/FerretDB/FerretDB",
                FERRETDB_VERSION,
                "./cmd/ferretdb",
                try_install=False,
                patch=FERRETDB_PATCH,
                build=FERRETDB_BUILD,
            )
        if "minio" in which:
            paths["minio"] = provision_go_binary(
                "minio", "github.com/minio/minio", MINIO_VERSION, ".", try_install=True
            )
        if "promtool" in which:
            paths["promtool"] = provision_promtool()
        if "helm" in which:
            paths["helm"] = provision_go_binary(
                "helm", "helm.sh/helm/v4", HELM_VERSION, "./cmd/helm", try_install=False
            )
        if "kubeconform" in which:
            paths["kubeconform"] = provision_go_binary(
                "kubeconform",
                "github.com/yannh/kubeconform",
                KUBECONFORM_VERSION,
                "./cmd/kubeconform",
                try_install=False,
            )
        return paths


def postgres_bindir() -> Path:
    """The newest PostgreSQL server installed (Debian keeps each major under /usr/lib)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3])
    )
    if found:
        return found[-1].parent
    if server := shutil.which("postgres"):
        return Path(server).resolve().parent
    raise StackError(
        "PostgreSQL is not installed (FerretDB stores its data there): make setup installs it "
        "(apt-get install postgresql)"
    )


# ------------------------------------------------------------- readiness probes
def tcp_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def mongo_ping(port: int) -> bool:
    """Send OP_MSG {ping: 1, $db: "admin"} and check for ok == 1."""

    def cstr(s: str) -> bytes:
        return s.encode() + b"\0"

    elems = (
        b"\x10"
        + cstr("ping")
        + struct.pack("<i", 1)
        + b"\x02"
        + cstr("$db")
        + struct.pack("<i", 6)
        + cstr("admin")
    )
    doc = struct.pack("<i", len(elems) + 5) + elems + b"\0"
    body = struct.pack("<I", 0) + b"\0" + doc  # flagBits, section kind 0 (body)
    msg = (
        struct.pack("<iiii", 16 + len(body), 1, 0, 2013) + body
    )  # header: len, requestID, responseTo, OP_MSG
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(msg)
            data = b""
            while len(data) < 4 or len(data) < struct.unpack_from("<i", data)[0]:
                chunk = s.recv(65536)
                if not chunk:
                    return False
                data += chunk
    except OSError:
        return False
    # The reply body is a small BSON document; ok comes back as double 1.0 (mongod,
    # FerretDB) or int32 1. A byte search avoids a BSON decoder for one field.
    return (b"\x01ok\x00" + struct.pack("<d", 1.0)) in data or (
        b"\x10ok\x00" + struct.pack("<i", 1)
    ) in data


def accepting(bindir: Path, port: int) -> bool:
    """PostgreSQL accepts connections (not only its port: it refuses them while recovering)."""
    probe = [str(bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port), "-t", "2"]
    return subprocess.run(probe, stdin=subprocess.DEVNULL).returncode == 0


def http_ok(url: str) -> bool:
    # An empty ProxyHandler: http_proxy in the environment must not catch loopback calls.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


# ------------------------------------------------------------------ processes
def proc_argv(pid: int) -> list[str] | None:
    """argv of a live, non-zombie process, else None. Reaps it if it is our child."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return None
    except ChildProcessError:
        pass
    try:
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return None
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except (OSError, IndexError):
        return None


class Stack:
    """One state directory: its ports, credentials, pid files and logs."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir.resolve()
        self.meta_path = self.dir / "stack.json"
        self.meta: dict[str, Any] = (
            json.loads(self.meta_path.read_text()) if self.meta_path.is_file() else {}
        )
        self.meta.setdefault("ports", {})

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.meta_path.write_text(json.dumps(self.meta, indent=2) + "\n")
        self.meta_path.chmod(0o600)  # holds the MinIO root password

    def pid_file(self, name: str) -> Path:
        return self.dir / "pids" / f"{name}.pid"

    def running_pid(self, name: str) -> int | None:
        """The recorded pid, if it is alive and still the server we started there."""
        try:
            pid = int(self.pid_file(name).read_text().strip())
        except (OSError, ValueError):
            return None
        argv, token = proc_argv(pid), self.meta.get("match", {}).get(name)
        return pid if argv and token in argv else None

    def port(self, key: str, free: bool) -> int:
        # Ports stick to a state dir: Kafka's KRaft quorum records the controller
        # endpoint at format time, and scripts may have sourced the old stack.env.
        if key not in self.meta["ports"]:
            if free:
                taken = set(self.meta["ports"].values())
                while (port := self._ephemeral_port()) in taken:
                    pass  # the kernel may hand back a port we just picked for another server
                self.meta["ports"][key] = port
            else:
                self.meta["ports"][key] = FIXED_PORTS[key]
        port = int(self.meta["ports"][key])
        if tcp_open(port):
            raise StackError(
                f"port {port} ({key}) is already taken by another process; "
                f"stop it, or use --free-ports with a new --state-dir"
            )
        return port

    @staticmethod
    def _ephemeral_port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    def postgres_password(self) -> str:
        password: str = self.meta.setdefault("postgres_password", secrets.token_hex(16))
        return password

    def postgres_data(self) -> tuple[Path, str | None]:
        """Where PostgreSQL keeps this stack's data, and the user it runs as.

        PostgreSQL refuses to run as root, and the `postgres` user may not reach a state dir
        under root's home, so as root the data lives in a folder of its own that the state dir
        links to (`discard` removes both)."""
        if os.geteuid() != 0:
            return self.dir / "postgres", None
        if "postgres_dir" not in self.meta:
            digest = hashlib.sha256(str(self.dir).encode()).hexdigest()[:16]
            data = POSTGRES_ROOT_DATA / f"pg-{digest}"
            if data.exists():
                # Left by a state dir at this path that was deleted (`rm -rf .state`): its
                # password went with it, so this stack could never sign in to that cluster.
                shutil.rmtree(data)
            self.meta["postgres_dir"] = str(data)
        data = Path(self.meta["postgres_dir"])
        link = self.dir / "postgres"
        if not link.is_symlink():
            link.unlink(missing_ok=True)
            link.symlink_to(data)
        return data, "postgres"

    def credentials(self) -> tuple[str, str]:
        creds: dict[str, str] = self.meta.setdefault(
            "minio_credentials",
            {"user": "sop" + secrets.token_hex(6), "password": secrets.token_urlsafe(24)},
        )
        return creds["user"], creds["password"]

    def kms_secret_key(self) -> str:
        """MinIO's built-in single-key KMS: objects are encrypted at rest (SSE-S3) with it."""
        key: str = self.meta.setdefault(
            "minio_kms_secret_key",
            "sop-local-key:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        )
        return key

    # -- launching -----------------------------------------------------------
    def spawn(
        self,
        name: str,
        argv: list[str],
        token: str,
        env: dict[str, str] | None = None,
        user: str | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start detached (own session, so terminal Ctrl-C and our exit don't reach it)."""
        (self.dir / "logs").mkdir(parents=True, exist_ok=True)
        self.pid_file(name).parent.mkdir(parents=True, exist_ok=True)
        with (self.dir / "logs" / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                env={**os.environ, **(env or {})},
                start_new_session=True,
                user=user,
            )
        self.pid_file(name).write_text(f"{proc.pid}\n")
        self.meta.setdefault("match", {})[name] = token
        self.save()
        return proc

    def start_kafka(self, libs: Path, free: bool) -> Starting:
        java = need("java", "a Java 17+ runtime (apt-get install openjdk-17-jre-headless)")
        port, cport = self.port("kafka", free), self.port("kafka_controller", free)
        home, logs = self.dir / "kafka", self.dir / "logs" / "kafka"
        logs.mkdir(parents=True, exist_ok=True)
        props = home / "server.properties"
        props.parent.mkdir(parents=True, exist_ok=True)
        props.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    f"controller.quorum.bootstrap.servers=127.0.0.1:{cport}",
                    f"log.dirs={home / 'data'}",
                    # Topics are created explicitly, as in production.
                    "auto.create.topics.enable=false",
                    "num.partitions=3",
                    "group.initial.rebalance.delay.ms=0",
                    "offsets.topic.replication.factor=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    # The default 50 partitions make the first consumer-group join slow on 2 cores.
                    "offsets.topic.num.partitions=4",
                    "transaction.state.log.num.partitions=4",
                    "",
                ]
            )
        )
        # Small heap, serial GC and C1-only JIT: on 2 cores this starts ~0.8 s faster and
        # leaves CPU to the tests; a dev/test broker never runs long enough to miss C2.
        jvm = [
            java,
            "-Xms256m",
            "-Xmx512m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={logs}",
            f"-Dlog4j2.configurationFile={HERE / 'kafka-log4j2.yaml'}",
            "-cp",
            f"{libs}/*",
        ]
        if not (home / "data" / "meta.properties").is_file():
            # KRaft needs formatted storage; --standalone makes this node the whole quorum.
            # Same encoding as Kafka's Uuid; an id starting with "-" would parse as an option.
            cluster_id = "-"
            while cluster_id.startswith("-"):
                cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            run_logged(
                [
                    *jvm,
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster_id,
                    "-c",
                    str(props),
                    "--standalone",
                ],
                "kafka storage format",
                self.dir / "logs" / "kafka-format.log",
            )
        server_log = logs / "server.log"
        server_log.unlink(missing_ok=True)  # readiness looks for a fresh "started" line
        proc = self.spawn("kafka", [*jvm, "kafka.Kafka", str(props)], token=str(props))

        # Logged after the broker is unfenced and its acceptors are open.
        def ready() -> bool:
            return (
                server_log.is_file()
                and "Kafka Server started" in server_log.read_text(errors="replace")
                and tcp_open(port)
            )

        return proc, ready, server_log

    def start_postgres(self, free: bool) -> int:
        """Start PostgreSQL for FerretDB (initialising its data on first use); its port once it
        accepts connections. A crash leaves a stale postmaster.pid that PostgreSQL itself
        recognises, so a restart after kill -9 recovers from its write-ahead log."""
        bindir, (data, user) = postgres_bindir(), self.postgres_data()
        if self.running_pid("postgres") is not None:
            return int(self.meta["ports"]["postgres"])
        port = self.port("postgres", free)
        log = self.dir / "logs" / "postgres-init.log"
        if not (data / "PG_VERSION").is_file():
            shutil.rmtree(data, ignore_errors=True)  # a half-finished initdb
            data.mkdir(parents=True)
            secret = data.parent / f".{data.name}.pw"
            secret.write_text(self.postgres_password() + "\n")
            if user:
                shutil.chown(data, user)
                shutil.chown(secret, user)
            try:
                run_logged(
                    [
                        str(bindir / "initdb"),
                        "--pgdata",
                        str(data),
                        "--username=ferretdb",
                        f"--pwfile={secret}",
                        "--auth=scram-sha-256",
                        "--encoding=UTF8",
                        "--locale=C.UTF-8",
                    ],
                    "PostgreSQL initdb",
                    log,
                    user=user,
                    cwd="/",
                )
            finally:
                secret.unlink(missing_ok=True)
        argv = [
            str(bindir / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "unix_socket_directories=",
        ]
        for attempt in range(3):  # a just-killed postmaster's shared memory may still linger
            proc = self.spawn("postgres", argv, str(data), user=user)
            started = time.monotonic()
            while proc.poll() is None and not accepting(bindir, port):
                if time.monotonic() - started > 30:
                    log_tail = tail(self.log("postgres"))
                    raise StackError(f"PostgreSQL not ready after 30s\n{log_tail}")
                time.sleep(0.1)
            if proc.poll() is None:
                return port
            say(f"PostgreSQL exited while starting (try {attempt + 1} of 3)")
            time.sleep(1)
        raise StackError(f"PostgreSQL did not start\n{tail(self.log('postgres'))}")

    def log(self, name: str) -> Path:
        return self.dir / "logs" / f"{name}.log"

    def start_mongo(self, ferretdb: Path | None, free: bool) -> Starting:
        port, data = self.port("mongo", free), self.dir / "mongo"
        data.mkdir(parents=True, exist_ok=True)
        if ferretdb is None:  # a real mongod is installed: prefer it
            argv = [
                "mongod",
                "--bind_ip",
                "127.0.0.1",
                "--port",
                str(port),
                "--dbpath",
                str(data),
                "--nounixsocket",
            ]
            token = str(data)
        else:
            refuse_sqlite_layout(data)
            pg_port = self.start_postgres(free)
            token = f"--listen-addr=127.0.0.1:{port}"
            argv = [
                str(ferretdb),
                "--handler=postgresql",
                token,
                f"--state-dir={data}",
                "--telemetry=disable",
                "--log-level=warn",
                # "-" turns off its metrics/pprof listener; set an address to profile it.
                f"--debug-addr={os.environ.get('SOP_FERRETDB_DEBUG_ADDR', '-')}",
            ]
        env = {}
        if ferretdb is not None:
            # The password goes through the environment, not argv (visible in `ps`).
            env["FERRETDB_POSTGRESQL_URL"] = (
                f"postgres://ferretdb:{self.postgres_password()}@127.0.0.1:{pg_port}/postgres"
            )
        proc = self.spawn("mongo", argv, token, env)
        return proc, lambda: mongo_ping(port), self.log("mongo")

    def start_minio(self, minio: Path, free: bool) -> Starting:
        port, console, data = (
            self.port("minio", free),
            self.port("minio_console", free),
            self.dir / "minio",
        )
        user, password = self.credentials()
        data.mkdir(parents=True, exist_ok=True)
        env = {
            "MINIO_ROOT_USER": user,
            "MINIO_ROOT_PASSWORD": password,
            "MINIO_BROWSER": "off",
            "MINIO_UPDATE": "off",
            "MINIO_CI_CD": "1",
            "MINIO_KMS_SECRET_KEY": self.kms_secret_key(),
        }
        argv = [
            str(minio),
            "server",
            str(data),
            "--address",
            f"127.0.0.1:{port}",
            "--console-address",
            f"127.0.0.1:{console}",
            "--anonymous",
        ]
        proc = self.spawn("minio", argv, str(data), env)
        return (
            proc,
            lambda: http_ok(f"http://127.0.0.1:{port}/minio/health/ready"),
            self.dir / "logs" / "minio.log",
        )

    # -- commands --------------------------------------------------------------
    def up(self, free: bool) -> dict[str, str]:
        self.dir.mkdir(parents=True, exist_ok=True)
        todo = [n for n in NAMES if not os.environ.get(EXTERNAL_VAR[n])]
        for n in todo[:]:
            if (
                n == "mongo"
                and self.meta.get("ports", {}).get("postgres")
                and (self.running_pid("postgres") is None)
            ):
                self.down(only=["mongo"])  # FerretDB without its PostgreSQL: start both anew
            if (pid := self.running_pid(n)) is not None:
                say(f"{n} already running (pid {pid})")
                todo.remove(n)
        paths = provision(tuple(todo)) if todo else {}
        waiting: dict[str, Starting] = {}
        try:
            # Kafka last: its storage format runs in the foreground, the others boot meanwhile.
            for n in sorted(todo, key=lambda n: n == "kafka"):
                say(f"starting {n}")
                if n == "kafka":
                    waiting[n] = self.start_kafka(paths["kafka"], free)
                elif n == "mongo":
                    waiting[n] = self.start_mongo(paths.get("mongo"), free)
                else:
                    waiting[n] = self.start_minio(paths["minio"], free)
            started = time.monotonic()
            while waiting:  # all three boot in parallel; poll each until ready
                for n, (proc, ready, log) in list(waiting.items()):
                    if proc.poll() is not None:
                        raise StackError(
                            f"{n} exited with code {proc.returncode} while starting\n"
                            f"--- last lines of {log} ---\n{tail(log)}"
                        )
                    if ready():
                        say(f"{n} ready")
                        del waiting[n]
                    elif time.monotonic() - started > READY_DEADLINE[n]:
                        raise StackError(
                            f"{n} not ready after {READY_DEADLINE[n]:.0f}s\n"
                            f"--- last lines of {log} ---\n{tail(log)}"
                        )
                time.sleep(0.2)
        except BaseException:  # includes Ctrl-C: never leave half a stack behind
            self.down(only=todo)
            raise
        return self.write_env()

    def write_env(self) -> dict[str, str]:
        p, env = self.meta["ports"], {}
        env["KAFKA_BOOTSTRAP_SERVERS"] = (
            os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or f"127.0.0.1:{p['kafka']}"
        )
        env["MONGO_URL"] = os.environ.get("MONGO_URL") or f"mongodb://127.0.0.1:{p['mongo']}/"
        if os.environ.get("S3_ENDPOINT"):
            for key in ("S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY", "S3_SECURE"):
                env[key] = os.environ.get(key, "false" if key == "S3_SECURE" else "")
        else:
            user, password = self.credentials()
            env.update(
                S3_ENDPOINT=f"127.0.0.1:{p['minio']}",
                S3_ACCESS_KEY=user,
                S3_SECRET_KEY=password,
                S3_SECURE="false",
            )
        self.save()
        path = self.dir / "stack.env"
        path.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        path.chmod(0o600)  # holds the MinIO root password
        return env

    def down(self, only: list[str] | tuple[str, ...] = NAMES) -> None:
        self._stop([n for n in only])
        if "mongo" in only:
            self._stop(["postgres"])  # after FerretDB, its only client

    def discard(self) -> None:
        """Remove the state dir and the PostgreSQL data kept outside it (see postgres_data)."""
        if postgres_dir := self.meta.get("postgres_dir"):
            shutil.rmtree(postgres_dir, ignore_errors=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    def _stop(self, only: list[str]) -> None:
        pids = {}
        for n in only:
            if (pid := self.running_pid(n)) is not None:
                # Kafka and MinIO shut down cleanly on TERM; PostgreSQL's TERM is its "smart"
                # shutdown, which waits for clients: INT ("fast") rolls them back and stops.
                os.kill(pid, signal.SIGINT if n == "postgres" else signal.SIGTERM)
                pids[n] = pid
            self.pid_file(n).unlink(missing_ok=True)
        deadline = time.monotonic() + 20
        while pids and time.monotonic() < deadline:
            pids = {n: p for n, p in pids.items() if proc_argv(p) is not None}
            time.sleep(0.1)
        for n, pid in pids.items():
            say(f"{n} (pid {pid}) ignored SIGTERM for 20s; killing it")
            os.kill(pid, signal.SIGKILL)
            while proc_argv(pid) is not None:
                time.sleep(0.05)

    def status(self) -> bool:
        all_up, ports = True, self.meta["ports"]
        addr = {
            "kafka": ports.get("kafka"),
            "mongo": ports.get("mongo"),
            "minio": ports.get("minio"),
        }
        for n in NAMES:
            if os.environ.get(EXTERNAL_VAR[n]):
                print(f"{n:6} external  {EXTERNAL_VAR[n]}={os.environ[EXTERNAL_VAR[n]]}")
            elif (pid := self.running_pid(n)) is not None:
                print(f"{n:6} running   pid {pid:<8} 127.0.0.1:{addr[n]}")
            else:
                all_up = False
                print(f"{n:6} stopped")
        if (pid := self.running_pid("postgres")) is not None:
            print(f"{'  postgres':6} running   pid {pid:<8} 127.0.0.1:{ports.get('postgres')}")
        return all_up


def masked(env: dict[str, str]) -> str:
    return "".join(f"{k}={'*' * 8 if k == 'S3_SECRET_KEY' else v}\n" for k, v in env.items())


def cmd_exec(argv: list[str], keep: bool) -> int:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        raise StackError("exec needs a command: stack.py exec -- CMD ...")
    state = REPO / ".state" / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    stack, child = Stack(state), None

    def on_term(signum: int, _frame: object) -> None:
        if child is not None and child.poll() is None:
            child.send_signal(
                signum
            )  # let the command wind down; `finally` below stops the servers
        else:
            raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    try:
        env = stack.up(free=True)
        say(f"stack up in {time.monotonic() - T0:.1f}s; running {' '.join(argv)}")
        run_id = "t" + secrets.token_hex(4)  # valid as a Kafka topic and Mongo database prefix
        # The state dir lets chaos tests stop and start one server (tests/platform.py).
        child_env = {**os.environ, **env, "SOP_RUN_ID": run_id, "SOP_STACK_STATE_DIR": str(state)}
        child = subprocess.Popen(argv, env=child_env)
        while True:
            try:
                rc = child.wait()
                break
            except KeyboardInterrupt:
                pass  # the terminal already sent SIGINT to the command too; wait for it
        return 128 - rc if rc < 0 else rc
    finally:
        # A second Ctrl-C or TERM must not cut the cleanup short and leave servers behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.down()
        if keep:
            say(f"kept state dir {state}")
        else:
            stack.discard()


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("provision", help="fetch/build all servers into the cache; start nothing")
    for name, text in (
        ("up", "start the servers in the background (idempotent)"),
        ("down", "stop the servers recorded in the state dir"),
        ("status", "one line per server; exit 1 if any is stopped"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--state-dir", type=Path, default=REPO / ".state" / "stack")
        if name == "up":
            p.add_argument(
                "--free-ports",
                action="store_true",
                help="ephemeral ports instead of the fixed ones",
            )
    p = sub.add_parser("exec", help="fresh stack on free ports around CMD; exits with CMD's code")
    p.add_argument("--keep", action="store_true", help="keep the state dir (logs, data) afterwards")
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    try:
        if args.cmd == "provision":
            for n, path in provision().items():
                say(f"{n}: {path}")
            return 0
        if args.cmd == "exec":
            return cmd_exec(args.command, args.keep)
        stack = Stack(args.state_dir)
        if args.cmd == "up":
            env = stack.up(args.free_ports)
            say(f"stack up; environment in {stack.dir / 'stack.env'}")
            print(masked(env), end="")
        elif args.cmd == "down":
            stack.down()
            say("stopped")
        else:
            return 0 if stack.status() else 1
        return 0
    except StackError as exc:
        print(f"stack: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
