"""The intake service's own collections. Every write is an insert with a unique `_id`.

FerretDB 1.x evaluates an update's filter and writes the document in separate steps, so two
writers of one document can both "match" and overwrite each other. So:

- `cases`: a case is a chain of immutable versions, `_id` = `<case id>#<version>`. A change
  inserts the next version with its events in the outbox; the unique `_id` is the
  compare-and-set. Events still pending in the version replaced are carried into the new one
  (the relay may then publish one twice; consumers ignore the repeat by its id). The relay's
  `$unset` is the only update a version ever gets.
- `claims`: one document per idempotency key, hospital request id and inbound event id,
  naming the case it belongs to; inserted before the case, so a repeat finds it.
- `milestones`: one document per consumed event (`_id` = event id), so a redelivery is a
  duplicate key and the status page is derived from all of them on read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Protocol

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.intake.domain import CaseFilter, CaseRecord
from services.intake.progress import Milestone
from shared.envelope import CloudEvent
from shared.mongo import Document
from shared.outbox import OUTBOX_FIELD, save_next_version
from shared.versions import VERSIONS_ONLY, VersionChain

LATEST_FIRST = [("case_id", ASCENDING), ("version", DESCENDING)]


class CaseStore(Protocol):
    """The port the handlers use; `IntakeStore` is the MongoDB adapter, `InMemoryCaseStore`
    (memory_store.py) the fake."""

    async def get_case(self, case_id: str) -> CaseRecord | None:
        """The latest version of the case."""

    async def save_case(self, record: CaseRecord, events: Sequence[CloudEvent]) -> str | None:
        """Insert the version after `record.version`; its `_id`, or None if it exists already."""

    async def list_cases(
        self, case_filter: CaseFilter, *, today: date, limit: int, offset: int
    ) -> list[CaseRecord]:
        """Cases matching the filter, newest submission first."""

    async def claim(self, key: str, *, case_id: str, **facts: Any) -> Document:
        """The claim under `key`: this one if it is new, else the one that was there."""

    async def add_milestone(self, case_id: str, milestone: Milestone) -> bool:
        """False if this event was recorded before."""

    async def milestones_of(self, case_id: str) -> list[Milestone]:
        """Every milestone of the case, in no particular order."""

    async def milestones_of_cases(self, case_ids: Sequence[str]) -> dict[str, list[Milestone]]:
        """The milestones of several cases, by case id (cases with none are left out)."""


class IntakeStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.cases: AsyncCollection[Document] = db["cases"]
        self.claims: AsyncCollection[Document] = db["claims"]
        self.milestones: AsyncCollection[Document] = db["milestones"]
        self.versions = VersionChain(self.cases, db["case_heads"])

    async def ensure_indexes(self) -> None:
        await self.cases.create_index(LATEST_FIRST)
        await self.cases.create_index([("submitted_at", DESCENDING)])
        await self.milestones.create_index([("case_id", ASCENDING)])

    # Cases.

    async def get_case(self, case_id: str) -> CaseRecord | None:
        doc = await self.versions.latest(case_id, projection={OUTBOX_FIELD: 0})
        return _record(doc) if doc else None

    async def save_case(self, record: CaseRecord, events: Sequence[CloudEvent]) -> str | None:
        """Insert the version after `record.version` with its events (and those still pending in
        the version it replaces); its `_id`, or None if another writer inserted it first."""
        state = _document(record, record.version + 1)
        return await save_next_version(self.versions, record.case_id, record.version, state, events)

    async def list_cases(
        self, case_filter: CaseFilter, *, today: date, limit: int, offset: int
    ) -> list[CaseRecord]:
        """Newest first. The query pre-filters; the rule decides on each case's latest version
        (a superseded version may be all that matched)."""
        query = _filter_query(case_filter, today)
        cursor = self.cases.find(
            query,
            projection={"case_id": 1},
            sort=[("submitted_at", DESCENDING)],
            limit=2 * (offset + limit),
        )
        case_ids = list(dict.fromkeys([str(doc["case_id"]) async for doc in cursor]))
        latest = await self._latest(case_ids[: offset + limit])
        found = [latest[c] for c in case_ids if c in latest]
        return [r for r in found if case_filter.matches(r, today)][offset : offset + limit]

    async def _latest(self, case_ids: list[str]) -> dict[str, CaseRecord]:
        cursor = self.cases.find({"case_id": {"$in": case_ids}}, projection={OUTBOX_FIELD: 0})
        latest: dict[str, CaseRecord] = {}
        async for doc in cursor:
            record = _record(doc)
            known = latest.get(record.case_id)
            if known is None or record.version > known.version:
                latest[record.case_id] = record
        return latest

    # Claims.

    async def claim(self, key: str, *, case_id: str, **facts: Any) -> Document:
        """Insert the claim unless one exists; returns the claim that holds (maybe another)."""
        doc = {"_id": key, "case_id": case_id, **facts}
        try:
            await self.claims.insert_one(doc)
        except DuplicateKeyError:
            existing = await self.claims.find_one({"_id": key})
            if existing is not None:
                return existing
            raise
        return doc

    # Milestones.

    async def add_milestone(self, case_id: str, milestone: Milestone) -> bool:
        """False if this event was recorded before."""
        doc = {
            "_id": milestone.event_id,
            "case_id": case_id,
            "event_type": milestone.event_type,
            "time": milestone.time,
            "facts": milestone.facts,
        }
        try:
            await self.milestones.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def milestones_of(self, case_id: str) -> list[Milestone]:
        return (await self.milestones_of_cases([case_id])).get(case_id, [])

    async def milestones_of_cases(self, case_ids: Sequence[str]) -> dict[str, list[Milestone]]:
        found: dict[str, list[Milestone]] = {}
        async for doc in self.milestones.find({"case_id": {"$in": list(case_ids)}}):
            milestone = Milestone(
                doc["_id"], doc["event_type"], doc["time"], doc.get("facts") or {}
            )
            found.setdefault(doc["case_id"], []).append(milestone)
        return found


def _record(doc: Document) -> CaseRecord:
    return CaseRecord.model_validate(doc["record"] | {"version": doc["version"]})


def _document(record: CaseRecord, version: int) -> Document:
    """The record, plus top-level copies of what the staff list filters and sorts by."""
    return {
        "case_id": record.case_id,
        "version": version,
        "record": record.model_dump(mode="json", exclude={"version"}),
        "status": record.status,
        "specialty": record.specialty,
        "urgency": record.urgency,
        # ISO dates compare as strings, and BSON has no date without a time.
        "date_of_birth": record.submission.patient.date_of_birth.isoformat(),
        "submitted_at": record.submitted_at,
    }


def _filter_query(case_filter: CaseFilter, today: date) -> Document:
    query: Document = dict(VERSIONS_ONLY)
    for name, values in (
        ("status", case_filter.statuses),
        ("specialty", case_filter.specialties),
        ("urgency", case_filter.urgencies),
    ):
        if values:
            query[name] = {"$in": list(values)}
    earliest, latest = case_filter.birth_date_range(today)
    born: Document = {}
    if earliest is not None:
        born["$gt"] = earliest.isoformat()
    if latest is not None:
        born["$lte"] = latest.isoformat()
    if born:
        query["date_of_birth"] = born
    return query
