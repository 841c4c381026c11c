"""`python -m services.reports`: wire the reports service and run it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import FastAPI

from services.reports.api import create_app
from services.reports.config import ReportsSettings
from services.reports.domain import FollowUpPolicy
from services.reports.handlers import SERVICE, ReportsContext, consumer_handlers
from services.reports.pdf import PdfRenderer
from services.reports.store import ReportsStore
from shared.auth import AuthSettings, TokenVerifier, principal_dependency
from shared.bus import EventPublisher
from shared.consumer import ConsumerRunner
from shared.objectstore import MinioObjectStore, ObjectStore
from shared.outbox import OutboxRelay
from shared.runtime import BackgroundTask, Connections, main


@dataclass
class ReportsService:
    """The app and its background tasks, kept apart so tests can run them in-process."""

    app: FastAPI
    context: ReportsContext
    runner: ConsumerRunner
    relay: OutboxRelay

    async def render_pool(self, stop: asyncio.Event) -> None:
        """Keeps the PDF workers for the life of the service, and stops them at the end."""
        try:
            await self.context.renderer.start()
            await stop.wait()
        finally:
            self.context.renderer.close()

    @property
    def background(self) -> list[BackgroundTask]:
        return [self.runner.run, self.relay.run, self.render_pool]


async def assemble(
    *,
    store: ReportsStore,
    objects: ObjectStore,
    publisher: EventPublisher,
    settings: ReportsSettings,
    verifier: TokenVerifier,
) -> ReportsService:
    """Indexes, the bucket, and the app with its consumer, relay and PDF workers."""
    await store.ensure_indexes()
    await objects.ensure_bucket()
    relay = OutboxRelay(collection=store.reports, publisher=publisher)
    context = ReportsContext(
        store=store,
        objects=objects,
        renderer=PdfRenderer(kind=settings.pdf_executor, workers=settings.pdf_workers),
        letterhead=settings.letterhead(),
        records_base_url=settings.records_base_url,
        events_queued=relay.nudge,
        follow_ups=FollowUpPolicy(
            per_case=settings.follow_up_per_case, window_days=settings.follow_up_window_days
        ),
    )
    stack = settings.stack
    runner = ConsumerRunner(
        stack=stack,
        group_id=stack.topic(SERVICE),
        handlers=consumer_handlers(context),
        publisher=publisher,
        prefetch=store.documents.preload,
    )

    async def consumer_ready() -> bool:
        return runner.ready

    async def database_ready() -> bool:
        await store.reports.database.command("ping")
        return True

    async def bucket_ready() -> bool:
        await objects.exists("readiness-probe")  # raises unless the server answers
        return True

    app = create_app(
        ctx=context,
        authenticate=principal_dependency(verifier),
        readiness={"mongo": database_ready, "kafka": consumer_ready, "s3": bucket_ready},
    )
    return ReportsService(app, context, runner, relay)


async def build(connections: Connections) -> tuple[FastAPI, Sequence[BackgroundTask]]:
    settings = connections.settings
    assert isinstance(settings, ReportsSettings)
    service = await assemble(
        store=ReportsStore(connections.db),
        objects=MinioObjectStore.from_settings(settings.stack, SERVICE),
        publisher=connections.publisher,
        settings=settings,
        verifier=TokenVerifier.from_settings(AuthSettings()),
    )
    return service.app, service.background


if __name__ == "__main__":
    main(SERVICE, ReportsSettings(), build)
