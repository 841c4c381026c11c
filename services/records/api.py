"""HTTP routes of the records service."""

from __future__ import annotations

from fastapi import FastAPI

from shared.consumer import ConsumerRunner
from shared.runtime import Connections
from shared.webapp import create_service_app


def create_app(connections: Connections, runner: ConsumerRunner) -> FastAPI:
    async def consumer_ready() -> bool:
        return runner.ready

    return create_service_app(
        title="records service",
        description="Records: the checklist, document and DICOM uploads, records.ready.",
        readiness={"mongo": connections.mongo_ready, "kafka": consumer_ready},
    )
