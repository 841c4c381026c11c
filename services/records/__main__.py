"""`python -m services.records`: wire the records service and run it."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI

from services.records.config import RecordsSettings
from services.records.handlers import SERVICE
from services.records.wiring import assemble
from shared.auth import AuthSettings, TokenVerifier
from shared.runtime import BackgroundTask, Connections, main


async def build(connections: Connections) -> tuple[FastAPI, Sequence[BackgroundTask]]:
    settings = connections.settings
    assert isinstance(settings, RecordsSettings)
    service = await assemble(connections, settings, TokenVerifier.from_settings(AuthSettings()))
    return service.app, service.background


if __name__ == "__main__":
    main(SERVICE, RecordsSettings(), build)
