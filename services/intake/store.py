"""The intake service's own collections.

- `cases`: one document per case (`_id` = case id) through the unit of work
  (shared/unit_of_work.py): the record, top-level copies of what the staff list filters and
  sorts by, and the events the change caused in its outbox, written in one conditional update.
- `claims`: one document per idempotency key, hospital request id and inbound event id,
  naming the case it belongs to; inserted before the case, so a repeat finds it.
- `milestones`: one document per consumed event (`_id` = event id), so a redelivery is a
  duplicate key and the status page is derived from all of them on read.
- `answers`: one document per hospital submission (`_id` = the hospital's event id), its
  `hospital.case.outcome` in the outbox until the relay publishes it, through the same unit of
  work: a redelivered submission finds its answer there and queues no second one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.intake.domain import CaseFilter, CaseRecord
from services.intake.progress import Milestone
from shared.batched_inserts import BatchedInserts
from shared.envelope import CloudEvent
from shared.mongo import Document
from shared.unit_of_work import OUTBOX_FIELD, CaseDocuments, Change, Loaded

# Given the case as it stands (None if there is none), the record to write and its events, or
# None to write nothing.
DecideCase = Callable[[CaseRecord | None], tuple[CaseRecord, Sequence[CloudEvent]] | None]


@dataclass(frozen=True)
class CaseChange:
    """The case as written (or as it stands when nothing was), and the events written."""

    record: CaseRecord | None
    events: Sequence[CloudEvent]
    written: bool


class CaseStore(Protocol):
    """The port the handlers use; `IntakeStore` is the MongoDB adapter, `InMemoryCaseStore`
    (memory_store.py) the fake."""

    async def get_case(self, case_id: str) -> CaseRecord | None:
        """The case, with the version it was read at."""

    async def change_case(
        self, case_id: str, decide: DecideCase, *, expect_new: bool = False
    ) -> CaseChange:
        """Read the case, decide, and write the record with its events in one conditional
        write; read and decide again if another writer got there first. `expect_new`: the
        case is most likely new, so the first try writes without reading."""

    async def list_cases(
        self, case_filter: CaseFilter, *, today: date, limit: int, offset: int
    ) -> list[CaseRecord]:
        """Cases matching the filter, newest submission first."""

    async def claim(self, key: str, *, case_id: str, **facts: Any) -> Document:
        """The claim under `key`: this one if it is new, else the one that was there."""

    async def add_milestone(self, case_id: str, milestone: Milestone) -> bool:
        """False if this event was recorded before."""

    async def answer_submission(self, submission_id: str, answer: CloudEvent) -> bool:
        """Queue the answer to a hospital's submission unless it has one; False if it had."""

    async def milestones_of(self, case_id: str) -> list[Milestone]:
        """Every milestone of the case, in no particular order."""

    async def milestones_of_cases(self, case_ids: Sequence[str]) -> dict[str, list[Milestone]]:
        """The milestones of several cases, by case id (cases with none are left out)."""

    async def closed_cases(self, *, limit: int) -> list[tuple[str, datetime]]:
        """Cases not yet erased that are closed (cancelled, or their report issued), with
        when they closed: the retention sweep's candidates."""


class IntakeStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.cases: AsyncCollection[Document] = db["cases"]
        self.claims: AsyncCollection[Document] = db["claims"]
        self.milestones: AsyncCollection[Document] = db["milestones"]
        self.answers: AsyncCollection[Document] = db["answers"]
        self.documents = CaseDocuments(self.cases)
        self.answer_documents = CaseDocuments(self.answers)
        self.milestone_inserts = BatchedInserts(self.milestones)

    async def ensure_indexes(self) -> None:
        for field in ("status", "specialty", "urgency"):
            await self.cases.create_index([(field, ASCENDING), ("submitted_at", DESCENDING)])
        await self.cases.create_index([("submitted_at", DESCENDING)])
        await self.milestones.create_index([("case_id", ASCENDING)])

    # Cases.

    async def get_case(self, case_id: str) -> CaseRecord | None:
        loaded = await self.documents.load(case_id)
        return _record(loaded.state, loaded.version) if loaded.state else None

    async def change_case(
        self, case_id: str, decide: DecideCase, *, expect_new: bool = False
    ) -> CaseChange:
        def decide_document(loaded: Loaded) -> Change | None:
            decided = decide(_record(loaded.state, loaded.version) if loaded.state else None)
            if decided is None:
                return None
            record, events = decided
            return Change(_document(record), events)

        outcome = await self.documents.change(case_id, decide_document, expect_new=expect_new)
        record = _record(outcome.state, outcome.version) if outcome.state else None
        return CaseChange(record, outcome.events, outcome.written)

    async def list_cases(
        self, case_filter: CaseFilter, *, today: date, limit: int, offset: int
    ) -> list[CaseRecord]:
        """Newest first, one page exactly: the query says all that the filter does."""
        cursor = self.cases.find(
            _filter_query(case_filter, today),
            projection={OUTBOX_FIELD: 0},
            sort=[("submitted_at", DESCENDING)],
            skip=offset,
            limit=limit,
        )
        return [_record(doc, doc["version"]) async for doc in cursor]

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

    # Answers to hospitals.

    async def answer_submission(self, submission_id: str, answer: CloudEvent) -> bool:
        def decide(loaded: Loaded) -> Change | None:
            if loaded.state is not None:
                return None
            return Change({"answer": answer.data, "answered_at": answer.time}, [answer])

        answered = await self.answer_documents.change(submission_id, decide, expect_new=True)
        return answered.written

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
        # A consumer batch's partitions add theirs concurrently: one write for all of them.
        return await self.milestone_inserts.insert(doc)

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

    # Retention.

    async def closed_cases(self, *, limit: int) -> list[tuple[str, datetime]]:
        closed: dict[str, datetime] = {}
        cancelled = self.cases.find(
            {"status": "cancelled", "erased": {"$ne": True}},
            projection={"record.history": 1},
            limit=limit,
        )
        async for doc in cancelled:
            history = doc["record"].get("history") or []
            if history:
                closed[doc["_id"]] = datetime.fromisoformat(history[-1]["at"])
        async for doc in self.milestones.find({"event_type": "report.issued"}, limit=limit):
            at = doc["time"]
            at = at if at.tzinfo else at.replace(tzinfo=UTC)
            closed[doc["case_id"]] = max(at, closed.get(doc["case_id"], at))
        return list(closed.items())


def _record(state: Document, version: int) -> CaseRecord:
    return CaseRecord.model_validate(state["record"] | {"version": version})


def _document(record: CaseRecord) -> Document:
    """The record, plus top-level copies of what the staff list filters and sorts by."""
    return {
        "record": record.model_dump(mode="json", exclude={"version"}),
        "status": record.status,
        "specialty": record.specialty,
        "urgency": record.urgency,
        # ISO dates compare as strings, and BSON has no date without a time.
        "date_of_birth": record.submission.patient.date_of_birth.isoformat(),
        "submitted_at": record.submitted_at,
        # The retention sweep skips erased cases.
        "erased": record.erasure is not None and record.erasure.state == "erased",
    }


def _filter_query(case_filter: CaseFilter, today: date) -> Document:
    query: Document = {}
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
