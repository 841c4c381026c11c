"""Transactional outbox on single documents: a state change and the events it causes are one
atomic update; a relay publishes pending events and then removes them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from shared.bus import EventPublisher
from shared.envelope import CloudEvent
from shared.metrics import EVENTS_PUBLISHED, OUTBOX_PENDING
from shared.mongo import Document
from shared.versions import VersionChain

log = logging.getLogger(__name__)

# Pending events live in a map keyed by event id, so removing exactly the published ones is a
# plain `$unset` that every MongoDB-compatible server supports. UUIDv7 keys sort by time.
OUTBOX_FIELD = "outbox"


def outbox_set(events: Sequence[CloudEvent]) -> dict[str, Any]:
    """The `$set` entries that queue these events in a document's outbox."""
    return {f"{OUTBOX_FIELD}.{e.id}": e.model_dump(mode="json") for e in events}


def pending_filter() -> dict[str, Any]:
    return {OUTBOX_FIELD: {"$exists": True, "$ne": {}}}


APPLIED_FIELD = "applied_event_ids"


async def save_next_version(
    versions: VersionChain,
    case_id: str,
    read_version: int,
    state: Document,
    events: Sequence[CloudEvent],
    *,
    applied_event_id: str | None = None,
) -> str | None:
    """Insert the version after `read_version`: `state`, with `events` queued in its outbox
    beside those still pending in the version it replaces (so superseding a version never
    loses one). Unless `state` keeps its own applied-event ids, the version carries them
    forward (plus `applied_event_id`). Returns its `_id`, or None if another writer inserted
    that version first, or pruned the one read (then the next one may be taken and pruned too:
    see versions.py)."""
    outbox: dict[str, Any] = {}
    applied: list[str] = []
    if read_version:
        fields = {OUTBOX_FIELD: 1, APPLIED_FIELD: 1}
        previous = await versions.get(case_id, read_version, projection=fields)
        if previous is None:
            versions.forget(case_id)
            return None
        outbox.update(previous.get(OUTBOX_FIELD) or {})
        applied = list(previous.get(APPLIED_FIELD) or [])
    outbox.update({e.id: e.model_dump(mode="json") for e in events})
    if applied_event_id:
        applied.append(applied_event_id)
    doc = {**state, OUTBOX_FIELD: outbox}
    if applied and APPLIED_FIELD not in state:
        doc[APPLIED_FIELD] = applied
    return await versions.insert(case_id, read_version + 1, doc)


class PublishedEvents(Protocol):
    """The ids of events a relay has published, for a service that wants an event carried
    forward from one version to the next published once even across relay passes."""

    async def already_published(self, event_ids: Sequence[str]) -> set[str]: ...
    async def mark_published(self, event_ids: Sequence[str]) -> None: ...


class OutboxRelay:
    """Publishes what the outboxes of one collection hold.

    A crash after publishing and before removing publishes the same event again on restart;
    consumers absorb that through their applied-event records, so nothing is lost or invented.
    With `published`, events it lists are removed from the outboxes without being published
    again (only a crash between publishing and recording can repeat one).
    """

    def __init__(
        self,
        *,
        collection: AsyncCollection[Document],
        publisher: EventPublisher,
        published: PublishedEvents | None = None,
        poll_interval_s: float = 0.5,
        sweep_interval_s: float = 30.0,
        batch_size: int = 200,
    ) -> None:
        self._collection = collection
        self._publisher = publisher
        self._published = published
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
            return await self._publish(documents)
        named, self._queued = self._queued, set()
        try:
            documents = await self._collection.find(
                {"_id": {"$in": sorted(named)}, **pending_filter()}, projection={OUTBOX_FIELD: 1}
            ).to_list()
            return await self._publish(documents)
        except BaseException:
            self._queued |= named
            raise

    async def _publish(self, documents: list[Document]) -> int:
        batches = [(doc["_id"], _pending_events(doc)) for doc in documents]
        # The same event may sit in two versions of one document (carried forward).
        unique = {e.id: e for _, doc_events in batches for e in doc_events}
        OUTBOX_PENDING.set(len(unique))
        if not unique:
            return 0
        done = await self._published.already_published(list(unique)) if self._published else set()
        fresh = [e for event_id, e in sorted(unique.items()) if event_id not in done]
        if fresh:
            await self._publisher.publish(fresh)
            if self._published:
                await self._published.mark_published([e.id for e in fresh])
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
