"""Where audit records go: the service's own `audit_outbox` collection, written before the
response is sent, and a relay that publishes it to `audit.access` and then removes what the
broker took.

So a record exists as soon as a caller can see an answer: a process killed with SIGKILL, or
stopped while the broker is away, leaves its unpublished records in the outbox, and whichever
process of the service runs next publishes them. A crash between publishing and removing
publishes a record twice; the audit service keeps one per event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Protocol

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from shared.batched_inserts import BatchedInserts
from shared.bus import EventPublisher
from shared.contracts.access_recorded import AccessRecorded
from shared.envelope import CloudEvent, make_event
from shared.metrics import AUDIT_RECORDS
from shared.mongo import Document

log = logging.getLogger(__name__)

NO_CASE = "no-case"
OUTBOX_COLLECTION = "audit_outbox"


class AuditOutbox(Protocol):
    """Audit events written but not yet published, oldest first (event ids are UUIDv7)."""

    async def add(self, events: Sequence[CloudEvent]) -> None: ...
    async def oldest(self, limit: int) -> list[CloudEvent]: ...
    async def remove(self, event_ids: Sequence[str]) -> None: ...


class MongoAuditOutbox:
    """`AuditOutbox` in a collection of the service's own database, one document per event."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection
        # Concurrent requests' records go in one write (each record has a new id).
        self.inserts = BatchedInserts(collection)

    async def add(self, events: Sequence[CloudEvent]) -> None:
        await asyncio.gather(
            *(
                self.inserts.insert({"_id": e.id, "event": e.model_dump(mode="json")})
                for e in events
            )
        )

    async def oldest(self, limit: int) -> list[CloudEvent]:
        cursor = self.collection.find({}).sort("_id", ASCENDING).limit(limit)
        return [CloudEvent.model_validate(doc["event"]) async for doc in cursor]

    async def remove(self, event_ids: Sequence[str]) -> None:
        await self.collection.delete_many({"_id": {"$in": list(event_ids)}})


class InMemoryAuditOutbox:
    """Fake `AuditOutbox` for unit tests; `events` is what a killed process would leave."""

    def __init__(self) -> None:
        self.events: dict[str, CloudEvent] = {}

    async def add(self, events: Sequence[CloudEvent]) -> None:
        self.events.update((e.id, e) for e in events)

    async def oldest(self, limit: int) -> list[CloudEvent]:
        return [self.events[k] for k in sorted(self.events)[:limit]]

    async def remove(self, event_ids: Sequence[str]) -> None:
        for event_id in event_ids:
            self.events.pop(event_id, None)


class AuditTrail:
    """Writes a request's audit records to the outbox (`record`) and relays them (`run`).

    The relay publishes what this process wrote from memory, without reading it back, and
    removes what the broker took in one command per `removal_interval_s`. It reads the outbox
    only in a sweep: at the start, after a failed pass and every `sweep_interval_s`, for what
    an earlier process (or a failed pass) left there."""

    def __init__(
        self,
        outbox: AuditOutbox,
        publisher: EventPublisher,
        *,
        service: str,
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
        removal_interval_s: float = 1.0,
        sweep_interval_s: float = 30.0,
    ) -> None:
        self.outbox = outbox
        self.publisher = publisher
        self.service = service
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.removal_interval_s = removal_interval_s
        self.sweep_interval_s = sweep_interval_s
        self._written = asyncio.Event()
        self._handed: dict[str, CloudEvent] = {}  # written by this process, not yet published
        self._published: set[str] = set()  # published, not yet removed from the outbox
        self._sweep_now = True

    async def record(self, records: Sequence[AccessRecorded]) -> None:
        """Durable once this returns (raises when the outbox could not be written)."""
        source = f"/services/{self.service}"
        events = [make_event(r, source=source, subject=r.case_id or NO_CASE) for r in records]
        await self.outbox.add(events)
        self._handed.update((e.id, e) for e in events)
        for record in records:
            AUDIT_RECORDS.labels(outcome=record.outcome).inc()
        self._written.set()

    async def relay_once(self, *, sweep: bool = True, remove: bool = True) -> int:
        """Publish the records handed over (and, in a sweep, the oldest of the outbox), then,
        with `remove`, remove every published record from the outbox; returns the count."""
        events = list(self._handed.values())[: self.batch_size]
        if sweep:
            await self.remove_published()
            events += [
                e for e in await self.outbox.oldest(self.batch_size) if e.id not in self._handed
            ]
        fresh = {e.id: e for e in events if e.id not in self._published}
        if fresh:
            await self.publisher.publish([fresh[i] for i in sorted(fresh)])
            self._published.update(fresh)
            for event_id in fresh:
                self._handed.pop(event_id, None)
        if remove:
            await self.remove_published()
        return len(fresh)

    async def remove_published(self) -> None:
        if self._published:
            published, self._published = self._published, set()
            try:
                await self.outbox.remove(sorted(published))
            except BaseException:
                self._published |= published
                raise

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until stopped (what earlier processes left goes first), then once more; a
        broker that is away at the stop leaves the records in the outbox for the next process."""
        loop = asyncio.get_running_loop()
        delay = self.poll_interval_s
        last_sweep = last_removal = loop.time()
        while not stop.is_set():
            self._written.clear()
            now = loop.time()
            sweep = self._sweep_now or now - last_sweep >= self.sweep_interval_s
            remove = now - last_removal >= self.removal_interval_s
            try:
                published = await self.relay_once(sweep=sweep, remove=remove)
                self._sweep_now = sweep and published >= self.batch_size
                if sweep:
                    last_sweep = loop.time()
                if remove:
                    last_removal = loop.time()
                if self._sweep_now or len(self._handed) >= self.batch_size:
                    continue  # more are waiting
                delay = self.poll_interval_s
                await _first_of([self._written, stop], within_s=self.poll_interval_s)
            except Exception as exc:
                log.warning("audit relay failed; retrying", exc_info=exc)
                self._sweep_now = True
                # Only the stop cuts the backoff short: every request sets `_written`.
                await _first_of([stop], within_s=delay)
                delay = min(delay * 2, 10)
        try:
            while await self.relay_once(sweep=True) >= self.batch_size:
                pass
        except Exception as exc:
            log.warning("audit records left in the outbox for the next process", exc_info=exc)


async def _first_of(events: Sequence[asyncio.Event], *, within_s: float) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=within_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def adopt_unsent(unsent: AsyncCollection[Document], outbox: MongoAuditOutbox) -> None:
    """Move into the outbox what a process of the version before it left in `audit_unsent`
    (records the broker refused at its stop, in the same document shape)."""
    async for doc in unsent.find({}):
        with contextlib.suppress(DuplicateKeyError):  # moved by another process already
            await outbox.collection.insert_one(doc)
        await unsent.delete_one({"_id": doc["_id"]})
