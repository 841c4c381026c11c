"""Putting the intake service together: store, handlers, consumer, relay and app."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from fastapi import FastAPI

from services.intake.api import create_app
from services.intake.config import IntakeSettings
from services.intake.erasure_handlers import sweep_retention
from services.intake.handlers import IntakeContext, consumer_handlers, invalid_handlers
from services.intake.store import IntakeStore
from shared.auth import TokenIssuer, TokenVerifier, principal_dependency
from shared.bus import EventPublisher
from shared.consumer import ConsumerRunner
from shared.outbox import OutboxRelay
from shared.runtime import BackgroundTask
from shared.topics import HOSPITAL_TOPIC

SERVICE = "intake"


@dataclass(frozen=True)
class IntakeService:
    app: FastAPI
    context: IntakeContext
    runner: ConsumerRunner
    relay: OutboxRelay
    # Publishes the answers to hospitals from their own collection's outboxes.
    answers_relay: OutboxRelay

    @property
    def background(self) -> Sequence[BackgroundTask]:
        every_s = self.context.settings.retention_sweep_s
        sweep = partial(sweep_retention, self.context, every_s=every_s)
        return [self.runner.run, self.relay.run, self.answers_relay.run, sweep]


async def assemble(
    *,
    store: IntakeStore,
    publisher: EventPublisher,
    settings: IntakeSettings,
    verifier: TokenVerifier,
    links: TokenIssuer,
) -> IntakeService:
    await store.ensure_indexes()
    relay = OutboxRelay(collection=store.cases, publisher=publisher)
    answers_relay = OutboxRelay(collection=store.answers, publisher=publisher)
    context = IntakeContext(
        store=store,
        settings=settings,
        links=links,
        events_queued=relay.nudge,
        answers_queued=answers_relay.nudge,
    )
    stack = settings.stack
    runner = ConsumerRunner(
        stack=stack,
        group_id=stack.topic(SERVICE),
        handlers=consumer_handlers(context),
        publisher=publisher,
        prefetch=store.documents.preload,
        # Progress events only add milestones; the case is read for submissions alone.
        prefetch_topics=(HOSPITAL_TOPIC, "case.submitted"),
        on_invalid=invalid_handlers(context),
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
    return IntakeService(app, context, runner, relay, answers_relay)
