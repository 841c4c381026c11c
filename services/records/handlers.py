"""Event handlers of the records service."""

from __future__ import annotations

from services.records.store import RecordsStore
from shared.consumer import Delivery
from shared.mongo import apply_once

CONSUMED_TYPES = ("case.submitted",)


async def record_case_event(delivery: Delivery, *, store: RecordsStore) -> None:
    """Note the event in the case's log, once, however often it is delivered."""
    event = delivery.event
    await apply_once(
        store.case_log,
        doc_id=event.subject,
        event_id=event.id,
        update={"$push": {"events": {"id": event.id, "type": event.type, "time": event.time}}},
    )
