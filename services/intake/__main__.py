"""`python -m services.intake`: wire the intake service and run it."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from fastapi import FastAPI

from services.intake.api import create_app
from services.intake.config import IntakeSettings
from services.intake.handlers import CONSUMED_TYPES, record_case_event
from services.intake.store import IntakeStore
from shared.consumer import ConsumerRunner
from shared.runtime import BackgroundTask, Connections, main

SERVICE = "intake"


async def build(connections: Connections) -> tuple[FastAPI, Sequence[BackgroundTask]]:
    store = IntakeStore(connections.db)
    handle = partial(record_case_event, store=store)
    runner = ConsumerRunner(
        stack=connections.settings.stack,
        group_id=connections.settings.stack.topic(SERVICE),
        handlers=dict.fromkeys(CONSUMED_TYPES, handle),
        publisher=connections.publisher,
    )
    return create_app(connections, runner), [runner.run]


if __name__ == "__main__":
    main(SERVICE, IntakeSettings(), build)
