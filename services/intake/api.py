"""HTTP routes of the intake service."""

from __future__ import annotations

from fastapi import FastAPI

from shared.consumer import ConsumerRunner
from shared.runtime import Connections
from shared.webapp import create_service_app


def create_app(connections: Connections, runner: ConsumerRunner) -> FastAPI:
    async def consumer_ready() -> bool:
        return runner.ready

    return create_service_app(
        title="intake service",
        description="Case intake: request forms, hospital submissions, the case timeline.",
        readiness={"mongo": connections.mongo_ready, "kafka": consumer_ready},
    )
