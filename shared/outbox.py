"""Transactional outbox on single documents: a state change and the events it causes are one
atomic update; a relay publishes pending events (handed over in memory by their writer) and
then removes them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
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
# Documents whose events a relay keeps in memory at most; beyond (the broker has been away
# for a while), it forgets them and sweeps the outboxes instead.
HANDED_KEPT = 10_000


# Told after a write that queued events: the document's id and the events (OutboxRelay.nudge).
EventsQueued = Callable[[str, Sequence[CloudEvent]], None]


def no_events_queued(_doc_id: str, _events: Sequence[CloudEvent] = ()) -> None:
    """The default `EventsQueued` where no relay runs (unit tests)."""


def outbox_set(events: Sequence[CloudEvent]) -> dict[str, Any]:
    """The `$set` entries that queue these events in a document's outbox."""
    return {f"{OUTBOX_FIELD}.{e.id}": event_json(e) for e in events}


def pending_filter() -> dict[str, Any]:
    return {OUTBOX_FIELD: {"$exists": True, "$ne": {}}}


class OutboxRelay:
    """Publishes what the outboxes of one collection hold.

    A writer hands the events it has just stored to `nudge`, and they are published from
    memory: the relay does not read back what it was given. A sweep reads the collection for
    what a crashed or failed pass left behind. Published events are removed from their
    documents in one bulk write per `removal_interval_s`, not one per pass (events published
    but not yet removed are known to this process, so its sweeps skip them).

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
        removal_interval_s: float = 1.0,
        batch_size: int = 200,
    ) -> None:
        self._collection = collection
        self._publisher = publisher
        self._poll_interval_s = poll_interval_s
        self._sweep_interval_s = sweep_interval_s
        self._removal_interval_s = removal_interval_s
        self._batch_size = batch_size
        self._wake = asyncio.Event()
        self._queued: set[str] = set()  # documents to read: named without their events
        self._handed: dict[str, list[CloudEvent]] = {}  # events handed over by their writer
        self._published: dict[str, set[str]] = {}  # document -> published ids not yet removed
        self._sweep_now = True  # the first pass sweeps: what a previous run left behind

    def nudge(self, doc_id: str | None = None, events: Sequence[CloudEvent] = ()) -> None:
        """Called after a write that queued `events` in document `doc_id`, so they go out now
        instead of at the next sweep. Without the events the document is read; without an id
        the next pass sweeps the collection."""
        if doc_id is None:
            self._sweep_now = True
        elif events and len(self._handed) < HANDED_KEPT:
            self._handed.setdefault(doc_id, []).extend(events)
        elif events:  # publishing has failed for a while: the outboxes hold them, sweep them
            self._sweep_now = True
        else:
            self._queued.add(doc_id)
        self._wake.set()

    async def relay_once(self, *, sweep: bool = True, remove: bool = True) -> int:
        """One pass: publish the pending events handed over or found, then (with `remove`)
        remove every published event from its document. Returns the count published.

        A sweep looks through the whole collection (events a crashed process left behind);
        otherwise only the documents named by `nudge` without their events are read, in one
        query by `_id`."""
        handed, self._handed = self._handed, {}
        named, self._queued = self._queued, set()
        try:
            batches = [(doc_id, events) for doc_id, events in handed.items()]
            swept: list[Document] | None = None
            if sweep:
                swept = await self._collection.find(
                    pending_filter(), projection={OUTBOX_FIELD: 1}, limit=self._batch_size
                ).to_list()
                self._observe_backlog(swept)
                batches += [(doc["_id"], _pending_events(doc)) for doc in swept]
            elif named:
                documents = await self._collection.find(
                    {"_id": {"$in": sorted(named)}, **pending_filter()},
                    projection={OUTBOX_FIELD: 1},
                ).to_list()
                batches += [(doc["_id"], _pending_events(doc)) for doc in documents]
            published = await self._publish(batches)
            if swept is not None and len(swept) < self._batch_size:
                self._observe_backlog([])  # the sweep saw every pending document: all gone
        except BaseException:
            for doc_id, events in handed.items():
                self._handed.setdefault(doc_id, [])[:0] = events
            self._queued |= named
            raise
        if remove:
            await self.remove_published()
        return published

    async def remove_published(self) -> None:
        """Remove what was published from the outboxes, in one command for every document."""
        if not self._published:
            return
        published, self._published = self._published, {}
        try:
            await self._collection.bulk_write(
                [
                    UpdateOne({"_id": doc_id}, {"$unset": {f"{OUTBOX_FIELD}.{i}": "" for i in ids}})
                    for doc_id, ids in published.items()
                ],
                ordered=False,
            )
        except BaseException:
            for doc_id, ids in published.items():
                self._published.setdefault(doc_id, set()).update(ids)
            raise

    def _observe_backlog(self, documents: list[Document]) -> None:
        """What the sweep found waiting, kept until the next sweep: while publishing fails it
        stays and the age grows (a failed pass makes the next pass a sweep)."""
        ids = [event_id for doc in documents for event_id in doc[OUTBOX_FIELD]]
        collection = self._collection.name
        OUTBOX_BACKLOG.labels(collection).set(len(ids))
        oldest = min((_queued_at(event_id) for event_id in ids), default=None)
        OUTBOX_OLDEST_AGE.labels(collection).set(0 if oldest is None else time.time() - oldest)

    async def _publish(self, batches: list[tuple[str, list[CloudEvent]]]) -> int:
        fresh: dict[str, tuple[str, CloudEvent]] = {}
        for doc_id, events in batches:
            done = self._published.get(doc_id, ())
            fresh.update((e.id, (doc_id, e)) for e in events if e.id not in done)
        OUTBOX_PENDING.set(len(fresh))
        if not fresh:
            return 0
        # In the order they were made (UUIDv7 ids sort by time): a case's events in its order.
        ordered = [fresh[event_id] for event_id in sorted(fresh)]
        # Each event goes out in a PRODUCER span continuing the trace stored with it.
        with publishing([e for _, e in ordered]) as traced:
            await self._publisher.publish(traced)
        for doc_id, e in ordered:
            self._published.setdefault(doc_id, set()).add(e.id)
            EVENTS_PUBLISHED.labels(e.type).inc()
        return len(ordered)

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        last_sweep = last_removal = loop.time()
        while not stop.is_set():
            # Cleared before the pass, so a nudge that arrives during it is not lost.
            self._wake.clear()
            now = loop.time()
            sweep = self._sweep_now or now - last_sweep >= self._sweep_interval_s
            # A sweep reads the outboxes, so it goes after removing what was published.
            remove = sweep or now - last_removal >= self._removal_interval_s
            if sweep:
                self._sweep_now = False  # a nudge asking for a sweep during this pass stays
            try:
                if sweep:
                    await self.remove_published()
                published = await self.relay_once(sweep=sweep, remove=remove)
                if remove:
                    last_removal = loop.time()
                if sweep:
                    last_sweep = loop.time()
                    self._sweep_now = self._sweep_now or published >= self._batch_size
            except Exception as exc:
                self._sweep_now = self._sweep_now or sweep
                OUTBOX_RELAY_FAILURES.labels(self._collection.name).inc()
                log.warning("outbox relay pass failed; will retry", exc_info=exc)
            else:
                if self._sweep_now or self._queued or self._handed:
                    continue  # more may be waiting
            waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(
                waiters, timeout=self._poll_interval_s, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in waiters:
                waiter.cancel()
        with contextlib.suppress(Exception):  # left for the next process to publish again
            await self.remove_published()


def _pending_events(document: Document) -> list[CloudEvent]:
    pending = document[OUTBOX_FIELD]
    return [CloudEvent.model_validate(pending[event_id]) for event_id in sorted(pending)]


def _queued_at(event_id: str) -> float:
    """Unix time an event was made, from its UUIDv7 id (the first 48 bits are milliseconds)."""
    try:
        return (uuid.UUID(event_id).int >> 80) / 1000
    except ValueError:
        return time.time()
