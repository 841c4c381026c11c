"""HTTP routes of the reports service."""

from __future__ import annotations

from fastapi import FastAPI

from shared.consumer import ConsumerRunner
from shared.runtime import Connections
from shared.webapp import create_service_app


def create_app(connections: Connections, runner: ConsumerRunner) -> FastAPI:
    async def consumer_ready() -> bool:
        return runner.ready

    return create_service_app(
        title="reports service",
        description="Reports: drafting, rendering, signing and report.issued.",
        readiness={"mongo": connections.mongo_ready, "kafka": consumer_ready},
    )
