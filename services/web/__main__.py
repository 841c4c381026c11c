"""`python -m services.web`: the web front door (pages only; it owns no case data)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Iterator

import uvicorn

from services.web.app import create_app
from services.web.backends import Backends
from services.web.config import WebSettings
from shared.auth import AuthSettings, TokenVerifier
from shared.logs import configure_logging
from shared.runtime import PARENT_PID_VAR
from shared.tracing import TracingMiddleware, configure_tracing, shutdown_tracing

log = logging.getLogger(__name__)


async def _run(settings: WebSettings) -> None:
    backends = Backends(settings)
    app = create_app(settings, backends, TokenVerifier.from_settings(AuthSettings()))
    app.add_middleware(TracingMiddleware)
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,  # query strings may carry a case link's token
        lifespan="off",
    )
    server = _SignalFreeServer(config)
    # Our own handlers: uvicorn's would re-raise SIGTERM after serving, ending the process
    # before it says it stopped (the chaos test reads that line, as for every service).
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    watchdog = asyncio.create_task(_stop_when_orphaned(server))
    log.info("service started", extra={"service": "web", "url": settings.public_url})
    try:
        await server.serve()
    finally:
        watchdog.cancel()
        await backends.close()
        log.info("service stopped", extra={"service": "web"})


class _SignalFreeServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _stop_when_orphaned(server: uvicorn.Server) -> None:
    """Stop with the runner that started us (`make run`, the tests), as the services do."""
    parent = os.environ.get(PARENT_PID_VAR)
    if not parent:
        return
    while os.getppid() == int(parent):  # noqa: ASYNC110 - no event announces a parent's death
        await asyncio.sleep(1)
    server.should_exit = True


def main() -> None:
    settings = WebSettings()
    configure_logging("web", settings.log_level)
    configure_tracing("web")
    try:
        asyncio.run(_run(settings))
    finally:
        shutdown_tracing()


if __name__ == "__main__":
    main()
