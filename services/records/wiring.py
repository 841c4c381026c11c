"""Putting the records service together: store, bucket, handlers, consumer, relay and app."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from fastapi import FastAPI

from services.records.api import create_app
from services.records.config import RecordsSettings
from services.records.dicom import quiet_pydicom
from services.records.handlers import (
    SERVICE,
    Ports,
    on_assignment_event,
    on_case_submitted,
    on_case_updated,
)
from services.records.store import RecordsStore
from shared.auth import TokenVerifier
from shared.consumer import ConsumerRunner
from shared.objectstore import MinioObjectStore
from shared.outbox import OutboxRelay
from shared.runtime import BackgroundTask, Connections


@dataclass(frozen=True)
class RecordsService:
    app: FastAPI
    runner: ConsumerRunner
    relay: OutboxRelay
    ports: Ports

    @property
    def background(self) -> Sequence[BackgroundTask]:
        return [self.runner.run, self.relay.run]


async def assemble(
    connections: Connections, settings: RecordsSettings, verifier: TokenVerifier
) -> RecordsService:
    quiet_pydicom()
    store = RecordsStore(connections.db)
    await store.create_indexes()
    objects = MinioObjectStore.from_settings(settings.stack, SERVICE)
    await objects.ensure_bucket()
    relay = OutboxRelay(collection=store.cases, publisher=connections.publisher)
    ports = Ports(store=store, objects=objects, settings=settings, nudge=relay.nudge)
    runner = ConsumerRunner(
        stack=settings.stack,
        group_id=settings.stack.topic(SERVICE),
        handlers={
            "case.submitted": partial(on_case_submitted, ports=ports),
            "case.updated": partial(on_case_updated, ports=ports),
            "expert.assigned": partial(on_assignment_event, ports=ports),
            "assignment.updated": partial(on_assignment_event, ports=ports),
        },
        publisher=connections.publisher,
        prefetch=store.documents.preload,
    )

    async def consumer_ready() -> bool:
        return runner.ready

    async def bucket_ready() -> bool:
        await objects.exists("readiness-probe")  # raises unless the server answers
        return True

    readiness = {"mongo": connections.mongo_ready, "kafka": consumer_ready, "s3": bucket_ready}
    return RecordsService(create_app(ports, verifier, readiness), runner, relay, ports)
