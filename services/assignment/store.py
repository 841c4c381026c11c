"""The assignment service's own collections: the versions of each case, and the roster.

A case is a chain of immutable versions, one document each, `_id` = `<case id>#<version>`.
A command reads the latest, decides, and inserts the next version with its events in the
document's outbox: the unique `_id` makes that insert the compare-and-set, so of two
concurrent writers exactly one wins and the other re-reads and decides again. Conditional
`update_one` cannot do this here: FerretDB 1.x evaluates the filter and writes the document in
separate steps, so concurrent updates of one document can all "match" and overwrite each
other (including the outbox relay's `$unset`). Events still pending in the version being
replaced are carried into the new one, so deleting superseded versions never loses one (the
relay may publish it twice; consumers ignore the repeat by its id). Expert load and fairness
are derived from the latest versions, so a redelivered event can never count twice.
"""

from __future__ import annotations

import contextlib
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
from shared.envelope import CloudEvent
from shared.mongo import Document
from shared.outbox import OUTBOX_FIELD, save_next_version
from shared.versions import VERSIONS_ONLY, VersionChain

SCAN_BATCH = 200
LATEST_FIRST = [("case_id", ASCENDING), ("version", DESCENDING)]


class AssignmentStore:
    def __init__(self, db: AsyncDatabase[Document], *, roster_fresh_s: float = 2.0) -> None:
        self.cases: AsyncCollection[Document] = db["cases"]
        self.experts: AsyncCollection[Document] = db["experts"]
        self.boards: AsyncCollection[Document] = db["boards"]
        # offer id → case id, so accepting an offer is a look-up by `_id`, not a scan.
        self.offers: AsyncCollection[Document] = db["offers"]
        self.versions = VersionChain(self.cases, db["case_heads"])
        self._roster_fresh_s = roster_fresh_s
        self._roster: _RosterView | None = None

    async def ensure_indexes(self) -> None:
        await self.cases.create_index(LATEST_FIRST)
        await self.cases.create_index([("offers.offer_id", ASCENDING)])
        await self.cases.create_index([("offers.lead.expert_id", ASCENDING)])
        await self.cases.create_index([("stage", ASCENDING), ("open_offer_expires_at", ASCENDING)])
        await self.cases.create_index([("assigned_keys", ASCENDING), ("assigned_at", DESCENDING)])
        await self.cases.create_index([("service_level.due_at", ASCENDING)])

    # Case versions.

    async def get_case(self, case_id: str) -> CaseRecord | None:
        """The latest version of the case."""
        doc = await self.versions.latest(case_id, projection=_RECORD_FIELDS)
        return _record(doc) if doc else None

    async def save_case(
        self, *, read_version: int, record: CaseRecord, events: Sequence[CloudEvent]
    ) -> str | None:
        """Insert the version after `read_version` with its events; returns its `_id`, or None
        if another writer inserted it first (then nothing was written)."""
        state = _document(record)
        saved = await save_next_version(self.versions, record.case_id, read_version, state, events)
        if saved:
            await self._index_offers(record)
            if self._roster is not None:
                self._roster.note(record.case_id, state)
        return saved

    async def _index_offers(self, record: CaseRecord) -> None:
        offer = record.open_offer
        if offer is not None:
            with contextlib.suppress(DuplicateKeyError):
                await self.offers.insert_one({"_id": offer.offer_id, "case_id": record.case_id})

    async def prune(self, case_id: str, *, below: int | None = None) -> None:
        """Prune superseded versions (their pending events live on in the latest one)."""
        if below is None:
            latest = await self.get_case(case_id)
            if latest is None:
                return
            below = latest.version
        older = self.cases.find(
            {"case_id": case_id, "version": {"$lt": below}}, projection={"version": 1}
        )
        for version in [doc["version"] async for doc in older]:
            await self.versions.prune(case_id, version)

    async def case_id_for_offer(self, offer_id: str) -> str | None:
        doc = await self.offers.find_one({"_id": offer_id})
        if doc is None:  # a process that died between saving the offer and indexing it
            doc = await self.cases.find_one({"offers.offer_id": offer_id}, {"case_id": 1})
        return str(doc["case_id"]) if doc else None

    async def cases_offered_to(self, expert_id: str, limit: int) -> list[CaseRecord]:
        records = await self._latest_matching({"offers.lead.expert_id": expert_id}, limit)
        return [r for r in records if any(o.lead.expert_id == expert_id for o in r.offers)]

    async def list_cases(
        self, *, stages: Sequence[str] = (), with_offers: bool = False, limit: int = 100
    ) -> list[CaseRecord]:
        query: dict[str, Any] = dict(VERSIONS_ONLY)
        if stages:
            query["stage"] = {"$in": list(stages)}
        if with_offers:
            query["offers.offer_id"] = {"$exists": True}
        records = await self._latest_matching(query, limit)
        return [
            r
            for r in records
            if (not stages or r.stage in stages) and (r.offers or not with_offers)
        ]

    async def _latest_matching(self, query: Mapping[str, Any], limit: int) -> list[CaseRecord]:
        """The latest version of each case with some version matching `query` (the caller
        checks the latest still matches: a superseded version may be all that did)."""
        cursor = self.cases.find(query, projection={"case_id": 1}, sort=LATEST_FIRST, limit=limit)
        case_ids = list(dict.fromkeys([str(doc["case_id"]) async for doc in cursor]))
        cursor = self.cases.find({"case_id": {"$in": case_ids}}, projection=_RECORD_FIELDS)
        latest: dict[str, CaseRecord] = {}
        async for doc in cursor:
            record = _record(doc)
            known = latest.get(record.case_id)
            if known is None or record.version > known.version:
                latest[record.case_id] = record
        return [latest[case_id] for case_id in case_ids if case_id in latest]

    # What the background scan looks for (a superseded version may match; the command
    # re-reads the latest and finds nothing to do).

    async def expired_offers(self, now: datetime) -> list[tuple[str, str]]:
        cursor = self.cases.find(
            {"stage": "offered", "open_offer_expires_at": {"$lte": now}},
            projection={"case_id": 1, "open_offer_id": 1},
            limit=SCAN_BATCH,
        )
        found = [(str(doc["case_id"]), str(doc["open_offer_id"])) async for doc in cursor]
        return list(dict.fromkeys(found))

    async def service_levels_due(self, now: datetime) -> list[str]:
        query = {
            "service_level.stopped_at": None,
            "$or": [
                {"service_level.at_risk_raised": False, "service_level.at_risk_at": {"$lte": now}},
                {"service_level.overdue_raised": False, "service_level.due_at": {"$lte": now}},
            ],
        }
        cursor = self.cases.find(query, projection={"case_id": 1}, limit=SCAN_BATCH)
        return list(dict.fromkeys([str(doc["case_id"]) async for doc in cursor]))

    # Load and fairness, derived from the case documents.

    async def roster_snapshot(self, *, case_id: str) -> RosterSnapshot:
        """The roster, every expert's open cases but `case_id`'s, and when each expert or
        board was last assigned a case."""
        view = await self._roster_view()
        loads = view.loads(except_case=case_id)
        return RosterSnapshot(view.experts, view.boards, loads, dict(view.last_assigned))

    async def _roster_view(self) -> _RosterView:
        """What matching reads: the roster and every case's load, read at most every
        `roster_fresh_s` (each read is a pass over every case: FerretDB indexes only `_id`)
        and kept current in between with this process's own saves. Another instance's offers
        reach it within `roster_fresh_s`; capacity is a matching preference, not a lock."""
        now = time.monotonic()
        view = self._roster
        if view is None or now - view.read_at > self._roster_fresh_s:
            view = _RosterView(
                experts={e.expert_id: e for e in await self.all_experts()},
                boards=await self.all_boards(),
                read_at=now,
            )
            fields = {f: 1 for f in ("case_id", "version", *_LOAD_FIELDS)}
            latest: dict[str, Document] = {}
            async for doc in self.cases.find(VERSIONS_ONLY, projection=fields):
                known = latest.get(doc["case_id"])
                if known is None or doc["version"] > known["version"]:
                    latest[doc["case_id"]] = doc
            for case_id, doc in latest.items():
                view.note(case_id, doc)
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


# The outbox is the relay's business, not the domain's.
_RECORD_FIELDS = {OUTBOX_FIELD: 0}
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


def _record(doc: Document) -> CaseRecord:
    return CaseRecord.model_validate(doc)


def _document(record: CaseRecord) -> dict[str, Any]:
    """The record's fields plus the derived ones the scan and the load queries use."""
    doc = record.model_dump(exclude={"case_id", "version"})
    # Derived, so the scan and the load queries need no aggregation.
    offer = record.open_offer
    doc.update(
        load_expert_ids=record.load_expert_ids(),
        assigned_keys=record.assigned_keys(),
        assigned_at=record.assignment.assigned_at if record.assignment else None,
        open_offer_id=offer.offer_id if offer else None,
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
