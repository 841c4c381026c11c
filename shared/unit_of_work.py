"""One unit of work for every service: a case is one document, changed by one conditional write.

    load the case document → decide(state) -> (new state, events) → one write, guarded by the
    version read, that stores the new state, queues its events in the document's outbox and
    records the consumed event's id → on a conflict, load again and decide again → nudge the relay

The document is `{_id: case id, version, <state fields>, outbox: {event id: event},
applied: {consumer group: [event ids]}}`. The write is `update_one({_id, version: v},
{$set: state, outbox entries, applied ids, version: v+1})` (an insert for a new case, where the
unique `_id` is the guard), so two writers that read the same version cannot both win, and a
state change never parts from its events or from the record that the event causing it was
applied. That needs a server whose filtered update is atomic: MongoDB's is, and so is the local
FerretDB with the project's patch (tests/integration/test_local_store.py).

Applied event ids are kept per consumer group, the newest `APPLIED_KEPT`: Kafka redelivers what
a consumer read after its last committed offset, which is never that many events of one case
ago. They live beside the state, never inside a domain model.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import bson
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from shared.consumer import TransientError
from shared.envelope import CloudEvent, event_json
from shared.mongo import Document
from shared.outbox import OUTBOX_FIELD as OUTBOX_FIELD  # re-exported: stores project it out
from shared.outbox import EventsQueued, no_events_queued
from shared.tracing import case_span

APPLIED_FIELD = "applied"
VERSION_FIELD = "version"
# Fields the unit of work owns; a state never sets them.
RESERVED = frozenset({"_id", VERSION_FIELD, OUTBOX_FIELD, APPLIED_FIELD})
APPLIED_KEPT = 200
# What a process remembers of the cases it last read or wrote, BSON-encoded (CaseDocuments).
REMEMBERED_BYTES = 16 * 1024 * 1024
# A write that loses this many races in a row gives up; the consumer retries the event later.
ATTEMPTS = 20


class CaseBusy(TransientError):
    """The case changed under us on every attempt; the caller may retry (HTTP: 503)."""


@dataclass(frozen=True)
class Tracking:
    """The consumed event a change applies: `event_id` as seen by consumer group `consumer`."""

    consumer: str
    event_id: str

    @property
    def group(self) -> str:
        """The consumer group as a field name (dots would make it a path in `$set`)."""
        return self.consumer.replace(".", "_")

    @property
    def key(self) -> str:
        return f"{APPLIED_FIELD}.{self.group}"


@dataclass(frozen=True)
class Loaded:
    """A case document as read: its state fields (without outbox and applied ids) and version.
    `version` 0 means there is no such case yet."""

    case_id: str
    version: int
    state: Document | None
    applied: dict[str, list[str]] = field(default_factory=dict)

    def has_applied(self, tracking: Tracking) -> bool:
        return tracking.event_id in self.applied.get(tracking.group, ())

    @classmethod
    def of(cls, case_id: str, doc: Document | None) -> Loaded:
        if doc is None:
            return cls(case_id, 0, None)
        state = {k: v for k, v in doc.items() if k not in RESERVED}
        return cls(case_id, int(doc[VERSION_FIELD]), state, dict(doc.get(APPLIED_FIELD) or {}))


@dataclass(frozen=True)
class Change:
    """What a decision wants written: the whole new state (top-level fields) and its events."""

    state: Document
    events: Sequence[CloudEvent] = ()


@dataclass(frozen=True)
class Outcome:
    """How a unit of work ended. `written` is False when the decision was to change nothing or
    the tracked event had been applied before; then `state` is what was read."""

    case_id: str
    version: int
    state: Document | None
    events: Sequence[CloudEvent]
    written: bool


Decide = Callable[[Loaded], Change | Awaitable[Change | None] | None]


class CaseDocuments:
    """The case documents of one collection, changed only through `change`.

    It remembers the cases this process last read or wrote (`remembered_bytes` of them, kept
    BSON-encoded so no caller can alter them), and a change starts from what it remembers
    instead of reading the case again: most events of a case arrive at the process that
    wrote it last (Kafka partitions by case). If another process wrote in between, the
    conditional write misses and the change reads afresh, so a stale memory costs one round
    trip, never a lost update. (A case deleted and made again by another process at the same
    version would fool it; no service does that: an erased case takes no more events.)
    """

    def __init__(
        self,
        collection: AsyncCollection[Document],
        *,
        events_queued: EventsQueued = no_events_queued,
        remembered_bytes: int = REMEMBERED_BYTES,
    ) -> None:
        self.collection = collection
        # Wakes the outbox relay for a document that has new events.
        self.events_queued = events_queued
        self._preloaded: dict[str, Loaded] = {}
        self._remembered: OrderedDict[str, tuple[int, bytes]] = OrderedDict()
        self._remembered_size = 0
        self._remembered_limit = remembered_bytes

    async def load(self, case_id: str) -> Loaded:
        doc = await self.collection.find_one({"_id": case_id}, projection={OUTBOX_FIELD: 0})
        loaded = Loaded.of(case_id, doc)
        self.remember(loaded)
        return loaded

    def remember(self, loaded: Loaded) -> None:
        """Keep this version of a case for the next change (the least recent go first)."""
        self.forget(loaded.case_id)
        if loaded.state is None or not self._remembered_limit:
            return
        doc = {"state": loaded.state, APPLIED_FIELD: loaded.applied}
        data = bson.encode(doc, codec_options=self.collection.codec_options)
        self._remembered[loaded.case_id] = (loaded.version, data)
        self._remembered_size += len(data)
        while self._remembered_size > self._remembered_limit:
            _, (_, dropped) = self._remembered.popitem(last=False)
            self._remembered_size -= len(dropped)

    def forget(self, case_id: str) -> None:
        """Drop what is remembered of a case (it changed elsewhere, or was deleted)."""
        kept = self._remembered.pop(case_id, None)
        if kept is not None:
            self._remembered_size -= len(kept[1])

    def recalled(self, case_id: str) -> Loaded | None:
        kept = self._remembered.get(case_id)
        if kept is None:
            return None
        self._remembered.move_to_end(case_id)
        version, data = kept
        doc = bson.decode(data, codec_options=self.collection.codec_options)
        return Loaded(case_id, version, doc["state"], doc[APPLIED_FIELD])

    async def load_many(self, case_ids: Sequence[str]) -> dict[str, Loaded]:
        """Several cases in one query (cases that do not exist come back with version 0)."""
        found: dict[str, Document] = {}
        if case_ids:
            cursor = self.collection.find(
                {"_id": {"$in": list(dict.fromkeys(case_ids))}}, projection={OUTBOX_FIELD: 0}
            )
            found = {str(doc["_id"]): doc async for doc in cursor}
        loaded = {c: Loaded.of(c, found.get(c)) for c in case_ids}
        for one in loaded.values():
            self.remember(one)
        return loaded

    async def preload(self, case_ids: Sequence[str]) -> None:
        """Read a consumer batch's cases in one query (ConsumerRunner's `prefetch`); the first
        `change` of each case starts from what was read here instead of reading it again. If
        another writer got there in between, that change's write misses and it reads afresh.
        Cases remembered from this process's last change are not read."""
        self._preloaded = await self.load_many([c for c in case_ids if c not in self._remembered])

    async def change(
        self,
        case_id: str,
        decide: Decide,
        *,
        tracking: Tracking | None = None,
        loaded: Loaded | None = None,
        expect_new: bool = False,
        attempts: int = ATTEMPTS,
    ) -> Outcome:
        """Load (unless `loaded` is given for the first try), decide, write; again on conflict.
        `expect_new`: the case is most likely new, so the first try inserts without reading
        (the unique `_id` still refuses it if it exists; then it is read and decided again).

        A tracked event already applied decides nothing. Raises TransientError when every
        attempt lost a race (the consumer then retries the event later)."""
        # A caller's version may lack the applied ids: what is written on it is not remembered.
        partial: Loaded | None = None
        if expect_new and loaded is None:
            loaded = Loaded(case_id, 0, None)
        elif loaded is not None and self._remembered.get(case_id, (0, b""))[0] == loaded.version:
            loaded = self.recalled(case_id)  # the same version, with its applied event ids
        elif loaded is not None and loaded.version:
            partial = loaded
        for _ in range(attempts):
            current = (
                loaded
                or self._preloaded.pop(case_id, None)
                or self.recalled(case_id)
                or await self.load(case_id)
            )
            loaded = None
            if tracking is not None and current.has_applied(tracking):
                return Outcome(case_id, current.version, current.state, (), written=False)
            # A person's request that names no case still changes it within the case's trace.
            with case_span(case_id, "change case"):
                decided = decide(current)
                change = await decided if inspect.isawaitable(decided) else decided
            if change is None:
                return Outcome(case_id, current.version, current.state, (), written=False)
            if await self.write(current, change, tracking):
                if current is partial:
                    self.forget(case_id)
                else:
                    self.remember(written(current, change, tracking))
                if change.events:
                    self.events_queued(case_id, change.events)
                return Outcome(
                    case_id, current.version + 1, change.state, change.events, written=True
                )
            self.forget(case_id)  # another writer got there first: read it next time
        raise CaseBusy(f"case {case_id} kept changing under concurrent writers")

    async def write(self, read: Loaded, change: Change, tracking: Tracking | None) -> bool:
        """The conditional write of one change on top of version `read.version`; False when
        another writer got there first (nothing was written)."""
        reserved = RESERVED & change.state.keys()
        if reserved:
            raise ValueError(f"a state may not set {sorted(reserved)}")
        version = read.version + 1
        outbox = {e.id: event_json(e) for e in change.events}
        if read.version == 0:
            doc: Document = {"_id": read.case_id, VERSION_FIELD: version, **change.state}
            doc[OUTBOX_FIELD] = outbox
            if tracking is not None:
                doc[APPLIED_FIELD] = {tracking.group: [tracking.event_id]}
            try:
                await self.collection.insert_one(doc)
            except DuplicateKeyError:
                return False
            return True
        return (
            await self.collection.update_one(*update_of(read, change, tracking))
        ).matched_count == 1


def applied_after(read: Loaded, tracking: Tracking | None) -> dict[str, list[str]]:
    """The applied event ids once `tracking`'s event is written over `read`."""
    applied = dict(read.applied)
    if tracking is not None:
        kept = [*applied.get(tracking.group, ()), tracking.event_id][-APPLIED_KEPT:]
        applied[tracking.group] = kept
    return applied


def written(read: Loaded, change: Change, tracking: Tracking | None) -> Loaded:
    """The case as `change` wrote it over `read`."""
    return Loaded(read.case_id, read.version + 1, change.state, applied_after(read, tracking))


def update_of(read: Loaded, change: Change, tracking: Tracking | None) -> tuple[Document, Document]:
    """The filter and update that write `change` over version `read.version` of an existing
    document: fields the new state no longer has are removed, pending events stay."""
    sets: dict[str, Any] = {**change.state, VERSION_FIELD: read.version + 1}
    sets.update({f"{OUTBOX_FIELD}.{e.id}": event_json(e) for e in change.events})
    if tracking is not None:
        sets[tracking.key] = applied_after(read, tracking)[tracking.group]
    update: Document = {"$set": sets}
    gone = (read.state or {}).keys() - change.state.keys()
    if gone:
        update["$unset"] = dict.fromkeys(gone, "")
    return {"_id": read.case_id, VERSION_FIELD: read.version}, update
