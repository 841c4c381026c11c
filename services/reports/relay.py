"""The outbox relay of the report revisions: publishes each pending event once.

Like `shared.outbox.OutboxRelay`, but an event carried forward from one revision to the next
is published only once: the ids of published events are recorded, and skipped thereafter.
Only a crash between publishing and recording can repeat an event (consumers absorb that).
"""

from __future__ import annotations

import asyncio
import logging

from services.reports.store import ReportsStore
from shared.bus import EventPublisher
from shared.envelope import CloudEvent
from shared.metrics import EVENTS_PUBLISHED, OUTBOX_PENDING
from shared.outbox import OUTBOX_FIELD, pending_filter

log = logging.getLogger(__name__)


class ReportsRelay:
    def __init__(
        self,
        *,
        store: ReportsStore,
        publisher: EventPublisher,
        poll_interval_s: float = 0.5,
        batch_size: int = 200,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._poll_interval_s = poll_interval_s
        self._batch_size = batch_size
        self._wake = asyncio.Event()

    def nudge(self) -> None:
        """Called after a write that queued events, so they go out now."""
        self._wake.set()

    async def relay_once(self) -> int:
        """One pass: publish what is pending and not yet published; returns how many."""
        reports = self._store.reports
        documents = await reports.find(
            pending_filter(), projection={OUTBOX_FIELD: 1}, limit=self._batch_size
        ).to_list()
        pending = {doc["_id"]: _events(doc) for doc in documents}
        unique = {e.id: e for events in pending.values() for e in events}
        OUTBOX_PENDING.set(len(unique))
        if not unique:
            return 0
        done = await self._store.already_published(list(unique))
        fresh = [e for event_id, e in sorted(unique.items()) if event_id not in done]
        if fresh:
            await self._publisher.publish(fresh)
            await self._store.mark_published([e.id for e in fresh])
        for doc_id, events in pending.items():
            unset = {f"{OUTBOX_FIELD}.{e.id}": "" for e in events}
            await reports.update_one({"_id": doc_id}, {"$unset": unset})
        for e in fresh:
            EVENTS_PUBLISHED.labels(e.type).inc()
        return len(fresh)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            # Cleared before the pass, so a nudge that arrives during it is not lost.
            self._wake.clear()
            try:
                await self.relay_once()
            except Exception as exc:
                log.warning("outbox relay pass failed; will retry", exc_info=exc)
            waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(
                waiters, timeout=self._poll_interval_s, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in waiters:
                waiter.cancel()


def _events(document: dict[str, object]) -> list[CloudEvent]:
    pending = document[OUTBOX_FIELD]
    assert isinstance(pending, dict)
    return [CloudEvent.model_validate(pending[event_id]) for event_id in sorted(pending)]
