"""`python -m services.assignment`: wire the assignment service and run it."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from fastapi import FastAPI

from services.assignment.api import create_app
from services.assignment.config import AssignmentSettings
from services.assignment.handlers import CONSUMED_TYPES, record_case_event
from services.assignment.store import AssignmentStore
from shared.consumer import ConsumerRunner
from shared.runtime import BackgroundTask, Connections, main

SERVICE = "assignment"


async def build(connections: Connections) -> tuple[FastAPI, Sequence[BackgroundTask]]:
    store = AssignmentStore(connections.db)
    handle = partial(record_case_event, store=store)
    runner = ConsumerRunner(
        stack=connections.settings.stack,
        group_id=connections.settings.stack.topic(SERVICE),
        handlers=dict.fromkeys(CONSUMED_TYPES, handle),
        publisher=connections.publisher,
    )
    return create_app(connections, runner), [runner.run]


if __name__ == "__main__":
    main(SERVICE, AssignmentSettings(), build)
