"""`python -m services.assignment`: wire the assignment service and run it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import FastAPI

from services.assignment.api import create_app
from services.assignment.config import AssignmentSettings
from services.assignment.handlers import SERVICE, AssignmentContext, consumer_handlers
from services.assignment.roster_handlers import load_roster, read_roster_file
from services.assignment.scanner import run_scanner
from services.assignment.store import AssignmentStore
from shared.auth import AuthSettings, TokenVerifier, principal_dependency
from shared.bus import EventPublisher
from shared.consumer import ConsumerRunner
from shared.outbox import OutboxRelay
from shared.runtime import BackgroundTask, Connections, main
from shared.settings import StackSettings

log = logging.getLogger(__name__)


@dataclass
class AssignmentService:
    """The app and its background tasks, kept apart so tests can run them in-process."""

    app: FastAPI
    context: AssignmentContext
    runner: ConsumerRunner
    relay: OutboxRelay
    scan_interval_s: float

    async def scan(self, stop: asyncio.Event) -> None:
        await run_scanner(self.context, interval_s=self.scan_interval_s, stop=stop)

    @property
    def background(self) -> list[BackgroundTask]:
        return [self.runner.run, self.relay.run, self.scan]


async def assemble(
    *,
    store: AssignmentStore,
    stack: StackSettings,
    publisher: EventPublisher,
    settings: AssignmentSettings,
    verifier: TokenVerifier,
) -> AssignmentService:
    """Indexes, the demo roster if asked for, and the app with its background tasks."""
    await store.ensure_indexes()
    if settings.load_demo_roster:
        roster = await asyncio.to_thread(read_roster_file, settings.demo_roster_path)
        await load_roster(store=store, roster=roster)
        log.info("demo roster loaded", extra={"count": len(roster.experts)})
    relay = OutboxRelay(collection=store.cases, publisher=publisher)
    context = AssignmentContext(
        store=store,
        policy=settings.service_level_policy(),
        offer_timeout=settings.offer_timeout,
        events_queued=relay.nudge,
    )
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
        await store.cases.database.command("ping")
        return True

    app = create_app(
        ctx=context,
        authenticate=principal_dependency(verifier),
        readiness={"mongo": database_ready, "kafka": consumer_ready},
    )
    return AssignmentService(app, context, runner, relay, settings.scan_interval_s)


async def build(connections: Connections) -> tuple[FastAPI, Sequence[BackgroundTask]]:
    settings = connections.settings
    assert isinstance(settings, AssignmentSettings)
    service = await assemble(
        store=AssignmentStore(connections.db),
        stack=settings.stack,
        publisher=connections.publisher,
        settings=settings,
        verifier=TokenVerifier.from_settings(AuthSettings()),
    )
    return service.app, service.background


if __name__ == "__main__":
    main(SERVICE, AssignmentSettings(), build)
