"""The notify service's own collections.

- `events`: one document per consumed case event (`_id` = event id, inserted first, so a
  redelivery is a duplicate key): its type, time and PHI-free facts.
- `cases`: one document per case, the timeline derived from its events; rewritten whole by
  one writer at a time (a per-case lock in this process; `event_count` refuses a stale write).
- `contacts`: where to write about a case (guardian and physician addresses, language).
- `deliveries`: one document per (event, channel, recipient), inserted first: the dedupe
  record, the delivery log and the retry state. `attempts` holds one claim per try.
- `partners`, `shares`, `experts`: webhook registrations, cases shared with a partner, and
  experts' mail addresses.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.notify.domain.deliveries import FINAL
from services.notify.domain.facts import EventFacts
from services.notify.domain.timeline import CaseTimeline
from shared.mongo import Document


class NotifyStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db
        self.events: AsyncCollection[Document] = db["events"]
        self.cases: AsyncCollection[Document] = db["cases"]
        self.contacts: AsyncCollection[Document] = db["contacts"]
        self.deliveries: AsyncCollection[Document] = db["deliveries"]
        self.attempts: AsyncCollection[Document] = db["attempts"]
        self.partners: AsyncCollection[Document] = db["partners"]
        self.shares: AsyncCollection[Document] = db["shares"]
        self.experts: AsyncCollection[Document] = db["experts"]
        self.deferred: AsyncCollection[Document] = db["deferred_webhooks"]
        self._case_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def ensure_indexes(self) -> None:
        await self.events.create_index([("case_id", ASCENDING), ("time", ASCENDING)])
        await self.cases.create_index([("stage", ASCENDING)])
        await self.deliveries.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])
        await self.deliveries.create_index([("target", ASCENDING), ("created_at", ASCENDING)])
        await self.deliveries.create_index([("case_id", ASCENDING)])

    # Timeline.

    @asynccontextmanager
    async def case_lock(self, case_id: str) -> AsyncIterator[None]:
        """One writer per case document in this process."""
        # Locks are kept (a few hundred bytes per case seen by this process).
        async with self._case_locks[case_id]:
            yield

    async def add_event(self, event: EventFacts) -> bool:
        """Record a consumed event; False if it was recorded before."""
        doc = {"_id": event.event_id, **event.model_dump(exclude={"event_id"})}
        try:
            await self.events.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def case_events(self, case_id: str) -> list[EventFacts]:
        cursor = self.events.find({"case_id": case_id}, sort=[("time", ASCENDING)])
        return [_event_facts(doc) async for doc in cursor]

    async def save_timeline(self, timeline: CaseTimeline) -> bool:
        """Replace the case document unless a newer derivation (more events) is stored."""
        doc = {"_id": timeline.case_id, **timeline.model_dump(exclude={"case_id"})}
        try:
            result = await self.cases.replace_one(
                {"_id": timeline.case_id, "event_count": {"$lte": timeline.event_count}},
                doc,
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        return result.modified_count == 1 or result.upserted_id is not None

    async def get_timeline(self, case_id: str) -> CaseTimeline | None:
        doc = await self.cases.find_one({"_id": case_id})
        return _timeline(doc) if doc else None

    async def list_timelines(self, query: Mapping[str, Any], limit: int) -> list[CaseTimeline]:
        cursor = self.cases.find(dict(query), sort=[("updated_at", -1)], limit=limit)
        return [_timeline(doc) async for doc in cursor]

    async def has_cases(self) -> bool:
        return await self.cases.find_one({}, projection={"_id": 1}) is not None

    # Contacts.

    async def put_contacts(self, case_id: str, contacts: Mapping[str, Any]) -> None:
        await self.contacts.replace_one({"_id": case_id}, dict(contacts), upsert=True)

    async def get_contacts(self, case_id: str) -> Document | None:
        return await self.contacts.find_one({"_id": case_id})

    async def put_expert(self, expert_id: str, email: str, language: str) -> None:
        doc = {"email": email, "language": language}
        await self.experts.replace_one({"_id": expert_id}, doc, upsert=True)

    async def get_expert(self, expert_id: str) -> Document | None:
        return await self.experts.find_one({"_id": expert_id})

    # Deliveries.

    async def add_delivery(self, doc: Document) -> bool:
        """Insert-first: False if this (event, channel, recipient) was planned before."""
        try:
            await self.deliveries.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def due_deliveries(
        self, *, now: datetime, busy_targets: Sequence[str], limit: int
    ) -> list[Document]:
        query: dict[str, Any] = {"status": "pending", "next_attempt_at": {"$lte": now}}
        if busy_targets:
            query["target"] = {"$nin": list(busy_targets)}
        cursor = self.deliveries.find(query, sort=[("next_attempt_at", ASCENDING)], limit=limit)
        return await cursor.to_list()

    async def claim(self, delivery_id: str, attempt: int, now: datetime) -> bool:
        """Insert-first claim of one try, so two dispatchers never send the same attempt."""
        try:
            await self.attempts.insert_one({"_id": f"{delivery_id}#{attempt}", "at": now})
        except DuplicateKeyError:
            return False
        return True

    async def update_delivery(
        self, delivery_id: str, changes: Mapping[str, Any], note: Mapping[str, Any] | None = None
    ) -> None:
        update: dict[str, Any] = {"$set": dict(changes)}
        if note is not None:
            update["$push"] = {"history": dict(note)}
        await self.deliveries.update_one({"_id": delivery_id}, update)

    async def lost_sends(self, now: datetime) -> list[Document]:
        cursor = self.deliveries.find({"status": "sending", "lease_until": {"$lte": now}})
        return await cursor.to_list()

    async def get_delivery(self, delivery_id: str) -> Document | None:
        return await self.deliveries.find_one({"_id": delivery_id})

    async def list_deliveries(self, query: Mapping[str, Any], limit: int) -> list[Document]:
        cursor = self.deliveries.find(dict(query), sort=[("created_at", -1)], limit=limit)
        return await cursor.to_list()

    # Partners.

    async def add_partner(self, doc: Document) -> None:
        await self.partners.insert_one(doc)

    async def get_partner(self, partner_id: str) -> Document | None:
        return await self.partners.find_one({"_id": partner_id})

    async def list_partners(self) -> list[Document]:
        return await self.partners.find({}, sort=[("_id", ASCENDING)]).to_list()

    async def set_partner(self, partner_id: str, changes: Mapping[str, Any]) -> None:
        await self.partners.update_one({"_id": partner_id}, {"$set": dict(changes)})

    async def partners_for(self, event_type: str) -> list[Document]:
        cursor = self.partners.find({"event_types": event_type, "status": "active"})
        return await cursor.to_list()

    async def defer(self, event_id: str, case_id: str, body: str) -> None:
        """Keep an event for partners until the case's submission says whose case it is."""
        doc = {"case_id": case_id, "body": body}
        await self.deferred.replace_one({"_id": event_id}, doc, upsert=True)

    async def take_deferred(self, case_id: str) -> list[str]:
        found = await self.deferred.find({"case_id": case_id}).to_list()
        if found:
            await self.deferred.delete_many({"_id": {"$in": [d["_id"] for d in found]}})
        return [str(d["body"]) for d in found]

    async def share(self, partner_id: str, case_id: str, at: datetime) -> None:
        doc = {"partner_id": partner_id, "case_id": case_id, "at": at}
        await self.shares.replace_one({"_id": f"{partner_id}:{case_id}"}, doc, upsert=True)

    async def is_shared(self, partner_id: str, case_id: str) -> bool:
        found = await self.shares.find_one({"_id": f"{partner_id}:{case_id}"})
        return found is not None


def is_final(doc: Document) -> bool:
    return doc.get("status") in FINAL


def _event_facts(doc: Document) -> EventFacts:
    fields = {k: v for k, v in doc.items() if k != "_id"}
    return EventFacts.model_validate({**fields, "event_id": doc["_id"]})


def _timeline(doc: Document) -> CaseTimeline:
    return CaseTimeline.model_validate(
        {**{k: v for k, v in doc.items() if k != "_id"}, "case_id": doc["_id"]}
    )
