"""`python -m services.notify`: wire the notify service and run it."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from fastapi import FastAPI

from services.notify.api import create_app
from services.notify.config import NotifySettings
from services.notify.handlers import CONSUMED_TYPES, record_case_event
from services.notify.store import NotifyStore
from shared.consumer import ConsumerRunner
from shared.runtime import BackgroundTask, Connections, main

SERVICE = "notify"


async def build(connections: Connections) -> tuple[FastAPI, Sequence[BackgroundTask]]:
    store = NotifyStore(connections.db)
    handle = partial(record_case_event, store=store)
    runner = ConsumerRunner(
        stack=connections.settings.stack,
        group_id=connections.settings.stack.topic(SERVICE),
        handlers=dict.fromkeys(CONSUMED_TYPES, handle),
        publisher=connections.publisher,
    )
    return create_app(connections, runner), [runner.run]


if __name__ == "__main__":
    main(SERVICE, NotifySettings(), build)
