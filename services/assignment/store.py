"""The assignment service's own collections: one document per case, and the roster.

A case is one document (`_id` = case id) changed only through the unit of work
(shared/unit_of_work.py): a command reads it, decides, and writes the new record with the
events it caused and the consumed event's id in one update guarded by the version read, so of
two concurrent writers exactly one wins and the other reads and decides again. Derived
top-level fields (`offer_ids`, `offered_expert_ids`, the load and scan fields) let the lookups
and lists use indexes. Expert load and fairness are derived from the case documents, so a
redelivered event can never count twice.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.assignment.domain.cases import CaseRecord
from services.assignment.domain.matching import RosterSnapshot
from services.assignment.domain.roster import Board, Expert
from shared.mongo import Document
from shared.unit_of_work import APPLIED_FIELD, OUTBOX_FIELD, CaseDocuments, Loaded

SCAN_BATCH = 200


class AssignmentStore:
    def __init__(self, db: AsyncDatabase[Document], *, roster_fresh_s: float = 2.0) -> None:
        self.cases: AsyncCollection[Document] = db["cases"]
        self.experts: AsyncCollection[Document] = db["experts"]
        self.boards: AsyncCollection[Document] = db["boards"]
        self.documents = CaseDocuments(self.cases)
        self._roster_fresh_s = roster_fresh_s
        self._roster: _RosterView | None = None

    async def ensure_indexes(self) -> None:
        await self.cases.create_index([("offer_ids", ASCENDING)])
        await self.cases.create_index([("offered_expert_ids", ASCENDING), *_NEWEST_OFFER_FIRST])
        await self.cases.create_index(_NEWEST_OFFER_FIRST)
        await self.cases.create_index([("stage", ASCENDING), ("open_offer_expires_at", ASCENDING)])
        await self.cases.create_index([("assigned_keys", ASCENDING), ("assigned_at", DESCENDING)])
        await self.cases.create_index([("service_level.due_at", ASCENDING)])

    # Cases.

    async def get_case(self, case_id: str) -> CaseRecord | None:
        return record_of(await self.documents.load(case_id))

    def noted(self, record: CaseRecord, document: Document) -> None:
        """A case this process has just written: matching here sees its load at once."""
        if self._roster is not None:
            self._roster.note(record.case_id, document)

    async def case_id_for_offer(self, offer_id: str) -> str | None:
        doc = await self.cases.find_one({"offer_ids": offer_id}, {"_id": 1})
        return str(doc["_id"]) if doc else None

    async def list_cases(self, *, stages: Sequence[str] = (), limit: int = 100) -> list[CaseRecord]:
        query = {"stage": {"$in": list(stages)}} if stages else {}
        return await self._find(query, [("_id", ASCENDING)], limit)

    async def cases_by_newest_offer(
        self, *, expert_id: str | None = None, stages: Sequence[str] = (), limit: int = 100
    ) -> list[CaseRecord]:
        """Cases with offers (to `expert_id`, if given), the case with the newest offer first.
        The newest `limit` offers of these cases are offers of the first `limit` cases; an
        expert's, though, are ordered by each case's newest offer to anyone."""
        query: dict[str, Any] = {"last_offered_at": {"$ne": None}}
        if expert_id is not None:
            query = {"offered_expert_ids": expert_id}
        if stages:
            query["stage"] = {"$in": list(stages)}
        return await self._find(query, _NEWEST_OFFER_FIRST, limit)

    async def _find(
        self, query: Mapping[str, Any], sort: list[tuple[str, int]], limit: int
    ) -> list[CaseRecord]:
        cursor = self.cases.find(dict(query), projection=_RECORD_FIELDS, sort=sort, limit=limit)
        return [_record(doc) async for doc in cursor]

    # What the background scan looks for (the command reads the case again and may find
    # nothing to do).

    async def expired_offers(self, now: datetime) -> list[tuple[str, str]]:
        cursor = self.cases.find(
            {"stage": "offered", "open_offer_expires_at": {"$lte": now}},
            projection={"open_offer_id": 1},
            limit=SCAN_BATCH,
        )
        return [(str(doc["_id"]), str(doc["open_offer_id"])) async for doc in cursor]

    async def service_levels_due(self, now: datetime) -> list[str]:
        query = {
            "service_level.stopped_at": None,
            "$or": [
                {"service_level.at_risk_raised": False, "service_level.at_risk_at": {"$lte": now}},
                {"service_level.overdue_raised": False, "service_level.due_at": {"$lte": now}},
            ],
        }
        cursor = self.cases.find(query, projection={"_id": 1}, limit=SCAN_BATCH)
        return [str(doc["_id"]) async for doc in cursor]

    async def service_level_counts(self, now: datetime) -> dict[str, int]:
        """Open cases (clock running) past their at-risk point but not yet due, and overdue."""
        running = {"service_level.stopped_at": None}
        at_risk = {
            **running,
            "service_level.at_risk_at": {"$lte": now},
            "service_level.due_at": {"$gt": now},
        }
        overdue = {**running, "service_level.due_at": {"$lte": now}}
        return {
            "at-risk": await self.cases.count_documents(at_risk),
            "overdue": await self.cases.count_documents(overdue),
        }

    # Load and fairness, derived from the case documents.

    async def roster_snapshot(self, *, case_id: str) -> RosterSnapshot:
        """The roster, every expert's open cases but `case_id`'s, and when each expert or
        board was last assigned a case."""
        view = await self._roster_view()
        loads = view.loads(except_case=case_id)
        return RosterSnapshot(view.experts, view.boards, loads, dict(view.last_assigned))

    async def _roster_view(self) -> _RosterView:
        """What matching reads: the roster and every case's load, read at most every
        `roster_fresh_s` (each read is a pass over every case) and kept current in between
        with this process's own writes. Another instance's offers
        reach it within `roster_fresh_s`; capacity is a matching preference, not a lock."""
        now = time.monotonic()
        view = self._roster
        if view is None or now - view.read_at > self._roster_fresh_s:
            view = _RosterView(
                experts={e.expert_id: e for e in await self.all_experts()},
                boards=await self.all_boards(),
                read_at=now,
            )
            async for doc in self.cases.find({}, projection=dict.fromkeys(_LOAD_FIELDS, 1)):
                view.note(str(doc["_id"]), doc)
            self._roster = view
        return view

    # The roster.

    async def all_experts(self) -> list[Expert]:
        cursor = self.experts.find({}, sort=[("_id", ASCENDING)])
        return [_expert(doc) async for doc in cursor]

    async def get_expert(self, expert_id: str) -> Expert | None:
        doc = await self.experts.find_one({"_id": expert_id})
        return _expert(doc) if doc else None

    async def put_expert(self, expert: Expert, *, create_only: bool = False) -> bool:
        """Create or replace; with `create_only`, False means it already existed."""
        self.forget_roster()
        return await _put(
            self.experts, expert.expert_id, _roster_doc(expert, "expert_id"), create_only
        )

    def forget_roster(self) -> None:
        """After a roster change here, the next match reads the roster again."""
        self._roster = None

    async def delete_expert(self, expert_id: str) -> bool:
        self.forget_roster()
        return (await self.experts.delete_one({"_id": expert_id})).deleted_count == 1

    async def all_boards(self) -> list[Board]:
        cursor = self.boards.find({}, sort=[("_id", ASCENDING)])
        return [_board(doc) async for doc in cursor]

    async def get_board(self, board_id: str) -> Board | None:
        doc = await self.boards.find_one({"_id": board_id})
        return _board(doc) if doc else None

    async def put_board(self, board: Board, *, create_only: bool = False) -> bool:
        self.forget_roster()
        return await _put(self.boards, board.board_id, _roster_doc(board, "board_id"), create_only)

    async def delete_board(self, board_id: str) -> bool:
        self.forget_roster()
        return (await self.boards.delete_one({"_id": board_id})).deleted_count == 1


# The outbox and applied ids are the unit of work's business, not the domain's.
_RECORD_FIELDS = {OUTBOX_FIELD: 0, APPLIED_FIELD: 0}
_NEWEST_OFFER_FIRST = [("last_offered_at", DESCENDING), ("_id", ASCENDING)]
_LOAD_FIELDS = ("stage", "load_expert_ids", "assigned_keys", "assigned_at")


@dataclass
class _RosterView:
    experts: dict[str, Expert]
    boards: list[Board]
    read_at: float
    open_loads: dict[str, list[str]] = field(default_factory=dict)  # case id → its experts
    last_assigned: dict[str, datetime] = field(default_factory=dict)

    def note(self, case_id: str, doc: Mapping[str, Any]) -> None:
        """Take in the latest version of one case."""
        if doc.get("stage") in ("offered", "assigned"):
            self.open_loads[case_id] = list(doc.get("load_expert_ids") or [])
        else:
            self.open_loads.pop(case_id, None)
        at = doc.get("assigned_at")
        if at is not None:
            at = at if at.tzinfo else at.replace(tzinfo=UTC)
            for key in doc.get("assigned_keys") or ():
                if key not in self.last_assigned or at > self.last_assigned[key]:
                    self.last_assigned[key] = at

    def loads(self, except_case: str) -> dict[str, int]:
        counted: Counter[str] = Counter()
        for case_id, expert_ids in self.open_loads.items():
            if case_id != except_case:
                counted.update(expert_ids)
        return dict(counted)


def record_of(loaded: Loaded) -> CaseRecord | None:
    """The case as the unit of work read it (None if there is none)."""
    if loaded.state is None:
        return None
    return CaseRecord.model_validate(
        {**loaded.state, "case_id": loaded.case_id, "version": loaded.version}
    )


def _record(doc: Document) -> CaseRecord:
    return CaseRecord.model_validate({**doc, "case_id": doc["_id"]})


def document_of(record: CaseRecord) -> dict[str, Any]:
    """The record's fields plus the derived ones the scan and the load queries use."""
    doc = record.model_dump(exclude={"case_id", "version"})
    # Derived, so the scan and the load queries need no aggregation.
    offer = record.open_offer
    doc.update(
        load_expert_ids=record.load_expert_ids(),
        assigned_keys=record.assigned_keys(),
        assigned_at=record.assignment.assigned_at if record.assignment else None,
        open_offer_id=offer.offer_id if offer else None,
        offer_ids=[o.offer_id for o in record.offers],
        offered_expert_ids=sorted({o.lead.expert_id for o in record.offers}),
        # Offers are kept oldest first.
        last_offered_at=record.offers[-1].offered_at if record.offers else None,
        open_offer_expires_at=offer.expires_at if offer else None,
    )
    return doc


def _roster_doc(item: Expert | Board, id_field: str) -> Document:
    # JSON mode: BSON has no plain dates, so leave ranges are stored as ISO strings.
    doc = item.model_dump(mode="json")
    return {"_id": doc.pop(id_field), **doc}


async def _put(
    collection: AsyncCollection[Document], doc_id: str, doc: Document, create_only: bool
) -> bool:
    if create_only:
        try:
            await collection.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True
    await collection.replace_one({"_id": doc_id}, doc, upsert=True)
    return True


def _expert(doc: Document) -> Expert:
    fields = {k: v for k, v in doc.items() if k != "_id"}
    return Expert.model_validate({**fields, "expert_id": doc["_id"]})


def _board(doc: Document) -> Board:
    fields = {k: v for k, v in doc.items() if k != "_id"}
    return Board.model_validate({**fields, "board_id": doc["_id"]})
