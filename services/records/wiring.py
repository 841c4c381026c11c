"""Putting the records service together: store, bucket, handlers, consumer, relay, app and,
when a port is set, the DICOM C-STORE SCP."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from fastapi import FastAPI
from minio import Minio

from services.records import ingest
from services.records.api import create_app
from services.records.config import RecordsSettings
from services.records.cstore import Sender, StoreStatus, store_pushed
from services.records.dicom import quiet_pydicom
from services.records.dimse import DimseServer
from services.records.erasure import on_case_erased
from services.records.handlers import (
    SERVICE,
    Ports,
    on_assignment_event,
    on_case_submitted,
    on_case_updated,
)
from services.records.ingest import Candidate
from services.records.resumable import MinioMultipart, ResumableUploads, UploadSessions
from services.records.store import RecordsStore
from shared.auth import TokenVerifier
from shared.consumer import ConsumerRunner
from shared.envelope import new_event_id
from shared.objectstore import MinioObjectStore
from shared.outbox import OutboxRelay
from shared.runtime import BackgroundTask, Connections


@dataclass(frozen=True)
class RecordsService:
    app: FastAPI
    runner: ConsumerRunner
    relay: OutboxRelay
    ports: Ports
    uploads: ResumableUploads
    dimse: DimseServer | None = None

    @property
    def background(self) -> Sequence[BackgroundTask]:
        tasks: list[BackgroundTask] = [self.runner.run, self.relay.run, self.uploads.run_sweeps]
        return tasks if self.dimse is None else [*tasks, self.dimse.run]


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
            "case.erased": partial(on_case_erased, ports=ports),
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
    dimse = None
    if settings.dimse_port is not None:

        async def store_instance(sender: Sender, candidate: Candidate) -> StoreStatus:
            in_case = partial(ingest.receive_pushed, ports)
            return await store_pushed(store, in_case, sender=sender, candidate=candidate)

        dimse = DimseServer(settings=settings, store=store_instance, audit=connections.audit)

        async def dimse_ready() -> bool:
            return dimse is not None and dimse.listening

        readiness["dimse"] = dimse_ready
    sessions = UploadSessions(connections.db)
    await sessions.create_indexes()
    uploads = ResumableUploads(
        ports,
        sessions,
        MinioMultipart(objects.client, objects.bucket, presigner(settings)),
        new_event_id,
    )
    app = create_app(ports, verifier, readiness)
    app.state.resumable = uploads
    return RecordsService(app, runner, relay, ports, uploads, dimse)


def presigner(settings: RecordsSettings) -> Minio | None:
    """A client for signing part URLs with the address browsers reach, when it is not
    S3_ENDPOINT (behind a proxy or a public name). Signing needs no call to the server."""
    if settings.s3_public_endpoint is None:
        return None
    stack = settings.stack
    return Minio(
        settings.s3_public_endpoint,
        access_key=stack.s3_access_key.get_secret_value(),
        secret_key=stack.s3_secret_key.get_secret_value(),
        secure=settings.s3_public_secure,
        region="us-east-1",
    )
