"""`python -m services.notify`: wire the notify service and run it."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI

from services.notify.config import NotifySettings
from services.notify.wiring import SERVICE, assemble, link_issuer
from shared.auth import AuthSettings, TokenVerifier
from shared.runtime import BackgroundTask, Connections, main


async def build(connections: Connections) -> tuple[FastAPI, Sequence[BackgroundTask]]:
    settings = connections.settings
    assert isinstance(settings, NotifySettings)
    auth = AuthSettings()
    service = await assemble(
        db=connections.db,
        settings=settings,
        publisher=connections.publisher,
        verifier=TokenVerifier.from_settings(auth),
        issuer=link_issuer(auth.link_key_path),
    )
    return service.app, service.background


if __name__ == "__main__":
    main(SERVICE, NotifySettings(), build)
