"""Event handlers of the assignment service."""

from __future__ import annotations

from services.assignment.store import AssignmentStore
from shared.consumer import Delivery
from shared.mongo import apply_once

CONSUMED_TYPES = (
    "case.submitted",
    "records.ready",
)


async def record_case_event(delivery: Delivery, *, store: AssignmentStore) -> None:
    """Note the event in the case's log, once, however often it is delivered."""
    event = delivery.event
    await apply_once(
        store.case_log,
        doc_id=event.subject,
        event_id=event.id,
        update={"$push": {"events": {"id": event.id, "type": event.type, "time": event.time}}},
    )
