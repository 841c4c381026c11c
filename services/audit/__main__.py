"""`python -m services.audit`: wire the audit service and run it."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from fastapi import FastAPI

from services.audit.api import create_app
from services.audit.config import AuditSettings
from services.audit.handlers import keep_access_record
from services.audit.store import AuditStore
from shared.auth import AuthSettings, TokenVerifier, principal_dependency
from shared.consumer import ConsumerRunner
from shared.contracts import AUDIT_TOPIC
from shared.runtime import BackgroundTask, Connections, main

SERVICE = "audit"


async def build(connections: Connections) -> tuple[FastAPI, Sequence[BackgroundTask]]:
    store = AuditStore(connections.db)
    await store.ensure_indexes()
    runner = ConsumerRunner(
        stack=connections.settings.stack,
        group_id=connections.settings.stack.topic(SERVICE),
        handlers={AUDIT_TOPIC: partial(keep_access_record, store=store)},
        publisher=connections.publisher,
    )

    async def consumer_ready() -> bool:
        return runner.ready

    app = create_app(
        store=store,
        current_principal=principal_dependency(TokenVerifier.from_settings(AuthSettings())),
        readiness={"mongo": connections.mongo_ready, "kafka": consumer_ready},
    )
    return app, [runner.run]


if __name__ == "__main__":
    main(SERVICE, AuditSettings(), build)
