"""The audit service's one handler: keep every `audit.access` event."""

from __future__ import annotations

from services.audit.store import AuditStore
from shared.consumer import Delivery
from shared.contracts import payload_as
from shared.contracts.access_recorded import AccessRecorded


async def keep_access_record(delivery: Delivery, *, store: AuditStore) -> None:
    await store.append(delivery.event, payload_as(delivery.payload, AccessRecorded))
