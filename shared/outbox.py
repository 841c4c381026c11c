"""Transactional outbox on single documents: a state change and the events it causes are one
atomic update; a relay publishes pending events and then removes them."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from shared.bus import EventPublisher
from shared.envelope import CloudEvent, event_json
from shared.metrics import (
    EVENTS_PUBLISHED,
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST_AGE,
    OUTBOX_PENDING,
    OUTBOX_RELAY_FAILURES,
)
from shared.mongo import Document
from shared.tracing import publishing

log = logging.getLogger(__name__)

# Pending events live in a map keyed by event id, so removing exactly the published ones is a
# plain `$unset` that every MongoDB-compatible server supports. UUIDv7 keys sort by time.
OUTBOX_FIELD = "outbox"


def outbox_set(events: Sequence[CloudEvent]) -> dict[str, Any]:
    """The `$set` entries that queue these events in a document's outbox."""
    return {f"{OUTBOX_FIELD}.{e.id}": event_json(e) for e in events}


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
        sweep_interval_s: float = 30.0,
        batch_size: int = 200,
    ) -> None:
        self._collection = collection
        self._publisher = publisher
        self._poll_interval_s = poll_interval_s
        self._sweep_interval_s = sweep_interval_s
        self._batch_size = batch_size
        self._wake = asyncio.Event()
        self._queued: set[str] = set()
        self._sweep_now = True  # the first pass sweeps: what a previous run left behind

    def nudge(self, doc_id: str | None = None) -> None:
        """Called after a write that queued events in document `doc_id`, so they go out now
        instead of at the next sweep; without an id the next pass sweeps the collection."""
        if doc_id is None:
            self._sweep_now = True
        else:
            self._queued.add(doc_id)
        self._wake.set()

    async def relay_once(self, *, sweep: bool = True) -> int:
        """One pass: publish the pending events found, then remove them. Returns the count.

        A sweep looks through the whole collection (events a crashed process left behind);
        otherwise only the documents named by `nudge` are read, in one query by `_id`."""
        if sweep:
            documents = await self._collection.find(
                pending_filter(), projection={OUTBOX_FIELD: 1}, limit=self._batch_size
            ).to_list()
            self._observe_backlog(documents)
            published = await self._publish(documents)
            if len(documents) < self._batch_size:  # the sweep saw every pending document
                self._observe_backlog([])
            return published
        named, self._queued = self._queued, set()
        try:
            documents = await self._collection.find(
                {"_id": {"$in": sorted(named)}, **pending_filter()}, projection={OUTBOX_FIELD: 1}
            ).to_list()
            return await self._publish(documents)
        except BaseException:
            self._queued |= named
            raise

    def _observe_backlog(self, documents: list[Document]) -> None:
        """What the sweep found waiting, kept until the next sweep: while publishing fails it
        stays and the age grows (a failed pass makes the next pass a sweep)."""
        ids = [event_id for doc in documents for event_id in doc[OUTBOX_FIELD]]
        collection = self._collection.name
        OUTBOX_BACKLOG.labels(collection).set(len(ids))
        oldest = min((_queued_at(event_id) for event_id in ids), default=None)
        OUTBOX_OLDEST_AGE.labels(collection).set(0 if oldest is None else time.time() - oldest)

    async def _publish(self, documents: list[Document]) -> int:
        batches = [(doc["_id"], _pending_events(doc)) for doc in documents]
        fresh = sorted((e for _, doc_events in batches for e in doc_events), key=lambda e: e.id)
        OUTBOX_PENDING.set(len(fresh))
        if not fresh:
            return 0
        # Each event goes out in a PRODUCER span continuing the trace stored with it.
        with publishing(fresh) as traced:
            await self._publisher.publish(traced)
        # One command removes what was published from every document read.
        await self._collection.bulk_write(
            [
                UpdateOne({"_id": doc_id}, {"$unset": {f"{OUTBOX_FIELD}.{e.id}": "" for e in evs}})
                for doc_id, evs in batches
                if evs
            ],
            ordered=False,
        )
        for e in fresh:
            EVENTS_PUBLISHED.labels(e.type).inc()
        return len(fresh)

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        last_sweep = loop.time()
        while not stop.is_set():
            # Cleared before the pass, so a nudge that arrives during it is not lost.
            self._wake.clear()
            sweep = self._sweep_now or loop.time() - last_sweep >= self._sweep_interval_s
            if sweep:
                self._sweep_now = False  # a nudge asking for a sweep during this pass stays
            try:
                published = await self.relay_once(sweep=sweep)
                if sweep:
                    last_sweep = loop.time()
                    self._sweep_now = self._sweep_now or published >= self._batch_size
            except Exception as exc:
                self._sweep_now = self._sweep_now or sweep
                OUTBOX_RELAY_FAILURES.labels(self._collection.name).inc()
                log.warning("outbox relay pass failed; will retry", exc_info=exc)
            else:
                if self._sweep_now or self._queued:
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


def _queued_at(event_id: str) -> float:
    """Unix time an event was made, from its UUIDv7 id (the first 48 bits are milliseconds)."""
    try:
        return (uuid.UUID(event_id).int >> 80) / 1000
    except ValueError:
        return time.time()
