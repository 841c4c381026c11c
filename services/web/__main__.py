"""`python -m services.web`: the web front door (pages only; it owns no case data)."""

from __future__ import annotations

import asyncio
import logging
import os

import uvicorn

from services.web.app import create_app
from services.web.backends import Backends
from services.web.config import WebSettings
from shared.auth import AuthSettings, TokenVerifier
from shared.logs import configure_logging
from shared.runtime import PARENT_PID_VAR

log = logging.getLogger(__name__)


async def _run(settings: WebSettings) -> None:
    backends = Backends(settings)
    app = create_app(settings, backends, TokenVerifier.from_settings(AuthSettings()))
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,  # query strings may carry a case link's token
        lifespan="off",
    )
    server = uvicorn.Server(config)
    watchdog = asyncio.create_task(_stop_when_orphaned(server))
    log.info("service started", extra={"service": "web", "url": settings.public_url})
    try:
        await server.serve()
    finally:
        watchdog.cancel()
        await backends.close()


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
    asyncio.run(_run(settings))


if __name__ == "__main__":
    main()
