"""What every service process does the same way: connections, probes, and one event loop that
runs the HTTP server, the consumer and the outbox relay until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Iterator, Sequence

import uvicorn
from fastapi import FastAPI
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from shared.audit import AuditMiddleware
from shared.audit_trail import OUTBOX_COLLECTION, AuditTrail, MongoAuditOutbox, adopt_unsent
from shared.bus import KafkaEventPublisher
from shared.case_keys import CaseKeyReader
from shared.erasure import ErasureReader
from shared.logs import configure_logging
from shared.mongo import Document, connect
from shared.revocations import RevocationReader
from shared.settings import ServiceSettings
from shared.topics import ensure_topics
from shared.tracing import TracingMiddleware, configure_tracing, shutdown_tracing

log = logging.getLogger(__name__)

BackgroundTask = Callable[[asyncio.Event], Awaitable[None]]


class Connections:
    """The Kafka producer, the service's own database, and its audit trail (written by the API's
    middleware and by any other way in, relayed by one background task)."""

    def __init__(self, service: str, settings: ServiceSettings) -> None:
        self.service = service
        self.settings = settings
        self.mongo: AsyncMongoClient[Document] = connect(settings.stack, app_name=service)
        self.db: AsyncDatabase[Document] = self.mongo[settings.stack.database(service)]
        self.publisher = KafkaEventPublisher(settings.stack)
        self.audit_outbox = MongoAuditOutbox(self.db[OUTBOX_COLLECTION])
        self.audit = AuditTrail(self.audit_outbox, self.publisher, service=service)

    async def start(self) -> None:
        await ensure_topics(self.settings.stack)
        await self.publisher.start()

    async def stop(self) -> None:
        await self.publisher.stop()
        await self.mongo.close()

    async def mongo_ready(self) -> bool:
        await self.db.command("ping")
        return True


async def serve(
    *,
    service: str,
    app: FastAPI,
    settings: ServiceSettings,
    background: Sequence[BackgroundTask],
) -> None:
    """Run the API and the background tasks; SIGTERM or SIGINT stops them all gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        lifespan="off",
    )
    server = _SignalFreeServer(config)
    tasks = [
        asyncio.create_task(_supervised(task, stop), name=_name_of(task)) for task in background
    ]
    http = asyncio.create_task(server.serve(), name="http")
    watchdog = asyncio.create_task(_stop_when_orphaned(stop))
    url = f"http://{settings.http_host}:{settings.http_port}"
    log.info("service started", extra={"service": service, "url": url})
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait([http, stopped], return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    server.should_exit = True
    watchdog.cancel()
    # One grace period for all of them together, then what is left is cancelled: a task that
    # cannot finish (an audit batch for a broker that is down, say) must not hold the process.
    _, late = await asyncio.wait([*tasks, http], timeout=settings.shutdown_grace_s)
    if late:
        names = sorted(task.get_name() for task in late)
        log.warning("cancelled after the grace period", extra={"tasks": names})
        for task in late:
            task.cancel()
        await asyncio.wait(late, timeout=5)
    log.info("service stopped", extra={"service": service})


# `deploy/local/run.py` and the benchmarks name themselves here: a service whose runner died
# (killed by `timeout`, say) stops instead of living on, spinning on a stack that is gone.
PARENT_PID_VAR = "SOP_STOP_WITH_PARENT_PID"


async def _stop_when_orphaned(stop: asyncio.Event) -> None:
    parent = os.environ.get(PARENT_PID_VAR)
    if not parent:
        return
    while os.getppid() == int(parent):  # noqa: ASYNC110 - no event announces a parent's death
        await asyncio.sleep(1)
    log.warning("the process that started this service is gone; stopping")
    stop.set()


def _name_of(task: BackgroundTask) -> str:
    return str(getattr(task, "__qualname__", None) or type(task).__name__)


class _SignalFreeServer(uvicorn.Server):
    """uvicorn would take SIGTERM for itself; here one handler stops the server and the tasks."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _supervised(task: BackgroundTask, stop: asyncio.Event) -> None:
    """Restart a background task that crashed (a broker restart, say), with capped backoff."""
    delay = 0.5
    while not stop.is_set():
        try:
            await task(stop)
            return
        except Exception as exc:
            log.error("background task failed; restarting", exc_info=exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, 30)


Builder = Callable[[Connections], Awaitable[tuple[FastAPI, Sequence[BackgroundTask]]]]


def main(service: str, settings: ServiceSettings, build: Builder) -> None:
    """Entry point shared by `python -m services.<name>`."""
    configure_logging(service, settings.log_level)
    configure_tracing(service)

    async def _run() -> None:
        connections = Connections(service, settings)
        await connections.start()
        revocations: RevocationReader | None = None
        erasures: ErasureReader | None = None
        case_keys: CaseKeyReader | None = None
        try:
            app, background = await build(connections)
            # Every service's API is audited the same way, so no route can forget it.
            await adopt_unsent(connections.db["audit_unsent"], connections.audit_outbox)
            trail = connections.audit
            app.add_middleware(AuditMiddleware, trail=trail)
            # Every service refuses revoked case links; it knows all revocations before serving.
            revocations = RevocationReader(settings.stack)
            await revocations.catch_up()
            app.state.revoked_links = revocations.revoked
            # Every service skips the events of erased cases; it knows them all before
            # consuming any (shared/erasure.py).
            erasures = ErasureReader(settings.stack)
            await erasures.catch_up()
            # Every service opens and seals case events with their case's key: it knows every
            # key published so far before consuming or publishing any (shared/case_keys.py).
            case_keys = CaseKeyReader(settings.stack)
            await case_keys.catch_up()
            case_keys.attach()
            app.add_middleware(TracingMiddleware)  # outermost: the span covers the whole request
            await serve(
                service=service,
                app=app,
                settings=settings,
                background=[
                    *background,
                    trail.run,
                    revocations.run,
                    erasures.run,
                    case_keys.run,
                ],
            )
        finally:
            if case_keys is not None:
                await case_keys.close()
            if erasures is not None:
                await erasures.close()
            if revocations is not None:
                await revocations.close()
            await connections.stop()

    try:
        asyncio.run(_run())
    finally:
        shutdown_tracing()
