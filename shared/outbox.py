"""Transactional outbox on single documents: a state change and the events it causes are one
atomic update; a relay publishes pending events and then removes them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from shared.bus import EventPublisher
from shared.envelope import CloudEvent
from shared.metrics import EVENTS_PUBLISHED, OUTBOX_PENDING
from shared.mongo import Document

log = logging.getLogger(__name__)

# Pending events live in a map keyed by event id, so removing exactly the published ones is a
# plain `$unset` that every MongoDB-compatible server supports. UUIDv7 keys sort by time.
OUTBOX_FIELD = "outbox"


def outbox_set(events: Sequence[CloudEvent]) -> dict[str, Any]:
    """The `$set` entries that queue these events in a document's outbox."""
    return {f"{OUTBOX_FIELD}.{e.id}": e.model_dump(mode="json") for e in events}


def pending_filter() -> dict[str, Any]:
    return {OUTBOX_FIELD: {"$exists": True, "$ne": {}}}


class OutboxRelay:
    """Publishes what the outboxes of one collection hold.

    A crash after publishing and before removing publishes the same event again on restart;
    consumers absorb that through their applied-event records, so nothing is lost or invented.
    """

    def __init__(
        self,
        *,
        collection: AsyncCollection[Document],
        publisher: EventPublisher,
        poll_interval_s: float = 0.5,
        batch_size: int = 200,
    ) -> None:
        self._collection = collection
        self._publisher = publisher
        self._poll_interval_s = poll_interval_s
        self._batch_size = batch_size
        self._wake = asyncio.Event()

    def nudge(self) -> None:
        """Called after a write that queued events, so they go out now instead of at next poll."""
        self._wake.set()

    async def relay_once(self) -> int:
        """One pass: publish every pending event found, then remove them. Returns the count."""
        documents = await self._collection.find(
            pending_filter(), projection={OUTBOX_FIELD: 1}, limit=self._batch_size
        ).to_list()
        batches = [(doc["_id"], _pending_events(doc)) for doc in documents]
        events = [e for _, doc_events in batches for e in doc_events]
        OUTBOX_PENDING.set(len(events))
        if not events:
            return 0
        await self._publisher.publish(events)
        for doc_id, doc_events in batches:
            await self._collection.update_one(
                {"_id": doc_id}, {"$unset": {f"{OUTBOX_FIELD}.{e.id}": "" for e in doc_events}}
            )
        for e in events:
            EVENTS_PUBLISHED.labels(e.type).inc()
        return len(events)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            # Cleared before the pass, so a nudge that arrives during it is not lost.
            self._wake.clear()
            try:
                published = await self.relay_once()
            except Exception as exc:
                log.warning("outbox relay pass failed; will retry", exc_info=exc)
                published = 0
            if published >= self._batch_size:
                continue  # more may be waiting
            waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(
                waiters, timeout=self._poll_interval_s, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in waiters:
                waiter.cancel()


def _pending_events(document: Document) -> list[CloudEvent]:
    pending = document[OUTBOX_FIELD]
    return [CloudEvent.model_validate(pending[event_id]) for event_id in sorted(pending)]
