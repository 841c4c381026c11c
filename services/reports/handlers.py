"""Event handlers of the reports service."""

from __future__ import annotations

from services.reports.store import ReportsStore
from shared.consumer import Delivery
from shared.mongo import apply_once

CONSUMED_TYPES = (
    "case.submitted",
    "records.ready",
    "expert.assigned",
)


async def record_case_event(delivery: Delivery, *, store: ReportsStore) -> None:
    """Note the event in the case's log, once, however often it is delivered."""
    event = delivery.event
    await apply_once(
        store.case_log,
        doc_id=event.subject,
        event_id=event.id,
        update={"$push": {"events": {"id": event.id, "type": event.type, "time": event.time}}},
    )
