"""HTTP routes of the intake service."""

from __future__ import annotations

from fastapi import FastAPI

from shared.consumer import ConsumerRunner
from shared.probes import probe_router
from shared.runtime import Connections


def create_app(connections: Connections, runner: ConsumerRunner) -> FastAPI:
    app = FastAPI(
        title="intake service",
        description="Case intake: request forms, hospital submissions, the case timeline.",
        version="0.1.0",
    )

    async def consumer_ready() -> bool:
        return runner.ready

    app.include_router(probe_router({"mongo": connections.mongo_ready, "kafka": consumer_ready}))
    return app
