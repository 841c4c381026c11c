"""The notify service's own collections.

- `cases`: one document per case (shared/unit_of_work.py): the PHI-free facts of every event
  consumed for it and the timeline derived from them, written together in one conditional
  write, so an event already among the facts (a redelivery, a rebuild) changes nothing.
- `contacts`: where to write about a case (guardian and physician addresses, language).
- `deliveries`: one document per (event, channel, recipient), inserted first: the dedupe
  record, the delivery log and the retry state. `attempts` holds one claim per try.
- `partners`, `shares`, `experts`: webhook registrations, cases shared with a partner, and
  experts' mail addresses. A removed partner's deliveries stay in the log (the audit of what
  was sent where), with `partner_removed_at` and `partner_id` `<id>#removed`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import bson
from bson.codec_options import CodecOptions
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.notify.domain.deliveries import FINAL
from services.notify.domain.facts import EventFacts
from services.notify.domain.timeline import CaseTimeline, derive
from shared.mongo import Document
from shared.unit_of_work import CaseDocuments, Change, Loaded

FACTS_FIELD = "facts"
BSON_OPTIONS: CodecOptions[Document] = CodecOptions(tz_aware=True)
# A case document without what only the unit of work and the derivation need.
TIMELINE_FIELDS = {FACTS_FIELD: 0, "outbox": 0, "applied": 0, "version": 0}
# Marks the deliveries of a removed partner; "#" is never in a partner id (views.PartnerCreate).
RETIRED = "#removed"


class NotifyStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db
        self.cases: AsyncCollection[Document] = db["cases"]
        self.timelines = CaseDocuments(self.cases)
        self.contacts: AsyncCollection[Document] = db["contacts"]
        self.deliveries: AsyncCollection[Document] = db["deliveries"]
        self.attempts: AsyncCollection[Document] = db["attempts"]
        self.partners: AsyncCollection[Document] = db["partners"]
        self.shares: AsyncCollection[Document] = db["shares"]
        self.experts: AsyncCollection[Document] = db["experts"]
        self.deferred: AsyncCollection[Document] = db["deferred_webhooks"]

    async def ensure_indexes(self) -> None:
        await self.cases.create_index([("stage", ASCENDING)])
        await self.deliveries.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])
        await self.deliveries.create_index([("target", ASCENDING), ("created_at", ASCENDING)])
        await self.deliveries.create_index([("case_id", ASCENDING)])

    # Timeline.

    async def add_to_timeline(self, facts: EventFacts) -> CaseTimeline:
        """Add an event's facts to its case and derive the timeline again; the timeline as it
        stands if the event was added before."""

        def decide(loaded: Loaded) -> Change | None:
            known = [_event_facts(d) for d in (loaded.state or {}).get(FACTS_FIELD, [])]
            if any(k.event_id == facts.event_id for k in known):
                return None
            every = [*known, _as_stored(facts)]
            timeline = derive(facts.case_id, every)
            state = timeline.model_dump(exclude={"case_id"})
            return Change({**state, FACTS_FIELD: [f.model_dump() for f in every]})

        outcome = await self.timelines.change(facts.case_id, decide)
        return _timeline({**(outcome.state or {}), "_id": facts.case_id})

    async def get_timeline(self, case_id: str) -> CaseTimeline | None:
        doc = await self.cases.find_one({"_id": case_id}, projection=TIMELINE_FIELDS)
        return _timeline(doc) if doc else None

    async def list_timelines(self, query: Mapping[str, Any], limit: int) -> list[CaseTimeline]:
        cursor = self.cases.find(
            dict(query), projection=TIMELINE_FIELDS, sort=[("updated_at", -1)], limit=limit
        )
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

    async def change_partner(self, partner_id: str, changes: Mapping[str, Any]) -> Document | None:
        """Set fields of a partner in one write; the partner as it now is, None if unknown."""
        return await self.partners.find_one_and_update(
            {"_id": partner_id}, {"$set": dict(changes)}, return_document=ReturnDocument.AFTER
        )

    async def delete_partner(self, partner_id: str) -> bool:
        gone = await self.partners.delete_one({"_id": partner_id})
        return gone.deleted_count == 1

    async def remove_shares(self, partner_id: str) -> None:
        await self.shares.delete_many({"partner_id": partner_id})

    async def retire_webhooks(
        self, partner_id: str, *, at: datetime, error: Mapping[str, str], note: Mapping[str, Any]
    ) -> None:
        """Keep a removed partner's deliveries in the log, its pending ones skipped, under an id
        no partner can be registered with: one later registered under the same id neither sees
        nor replays them, and the next try of one still under way finds no partner (fails)."""
        retired = {"partner_id": f"{partner_id}{RETIRED}", "partner_removed_at": at}
        await self.deliveries.update_many(
            {"partner_id": partner_id, "status": "pending"},
            {
                "$set": {**retired, "status": "skipped", "last_error": dict(error)},
                "$push": {"history": dict(note)},
            },
        )
        await self.deliveries.update_many({"partner_id": partner_id}, {"$set": retired})

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

    async def erase_case(self, case_id: str) -> int:
        """Delete what notify holds of a case (erasure): its timeline (the board's card, the
        child's initials and age), contacts, deliveries with their addresses (and so every
        message not yet sent), deferred partner events and shares; returns how many went."""
        deleted = 0
        for collection in (self.deliveries, self.deferred, self.shares):
            deleted += (await collection.delete_many({"case_id": case_id})).deleted_count
        for collection in (self.contacts, self.cases):
            deleted += (await collection.delete_one({"_id": case_id})).deleted_count
        self.timelines.forget(case_id)
        return deleted

    async def share(self, partner_id: str, case_id: str, at: datetime) -> None:
        doc = {"partner_id": partner_id, "case_id": case_id, "at": at}
        await self.shares.replace_one({"_id": f"{partner_id}:{case_id}"}, doc, upsert=True)

    async def is_shared(self, partner_id: str, case_id: str) -> bool:
        found = await self.shares.find_one({"_id": f"{partner_id}:{case_id}"})
        return found is not None


def is_final(doc: Document) -> bool:
    return doc.get("status") in FINAL


def _as_stored(facts: EventFacts) -> EventFacts:
    """The facts as they read back from the store (BSON keeps milliseconds), so the new event
    sorts among the stored ones exactly as it will when they are all read back later."""
    doc = bson.decode(bson.encode(facts.model_dump()), codec_options=BSON_OPTIONS)
    return _event_facts(doc)


def _event_facts(doc: Document) -> EventFacts:
    return EventFacts.model_validate(doc)


def _timeline(doc: Document) -> CaseTimeline:
    fields = {k: v for k, v in doc.items() if k in CaseTimeline.model_fields}
    return CaseTimeline.model_validate({**fields, "case_id": doc["_id"]})
