"""`python -m services.records`: wire the records service and run it."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from fastapi import FastAPI

from services.records.api import create_app
from services.records.config import RecordsSettings
from services.records.handlers import CONSUMED_TYPES, record_case_event
from services.records.store import RecordsStore
from shared.consumer import ConsumerRunner
from shared.runtime import BackgroundTask, Connections, main

SERVICE = "records"


async def build(connections: Connections) -> tuple[FastAPI, Sequence[BackgroundTask]]:
    store = RecordsStore(connections.db)
    handle = partial(record_case_event, store=store)
    runner = ConsumerRunner(
        stack=connections.settings.stack,
        group_id=connections.settings.stack.topic(SERVICE),
        handlers=dict.fromkeys(CONSUMED_TYPES, handle),
        publisher=connections.publisher,
    )
    return create_app(connections, runner), [runner.run]


if __name__ == "__main__":
    main(SERVICE, RecordsSettings(), build)
