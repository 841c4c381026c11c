"""`python -m services.reports`: wire the reports service and run it."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from fastapi import FastAPI

from services.reports.api import create_app
from services.reports.config import ReportsSettings
from services.reports.handlers import CONSUMED_TYPES, record_case_event
from services.reports.store import ReportsStore
from shared.consumer import ConsumerRunner
from shared.runtime import BackgroundTask, Connections, main

SERVICE = "reports"


async def build(connections: Connections) -> tuple[FastAPI, Sequence[BackgroundTask]]:
    store = ReportsStore(connections.db)
    handle = partial(record_case_event, store=store)
    runner = ConsumerRunner(
        stack=connections.settings.stack,
        group_id=connections.settings.stack.topic(SERVICE),
        handlers=dict.fromkeys(CONSUMED_TYPES, handle),
        publisher=connections.publisher,
    )
    return create_app(connections, runner), [runner.run]


if __name__ == "__main__":
    main(SERVICE, ReportsSettings(), build)
