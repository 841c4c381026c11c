"""The reports service's own collection: one document per case's report.

A report is one document (`_id` = case id) changed only through the unit of work
(shared/unit_of_work.py): a command reads it, decides, and writes the new state with the events
it caused (and the consumed event's id) in one update guarded by the version read, so of two
concurrent writers exactly one wins and the other reads and decides again. The document is the
record's fields plus `author_ids` (a top-level array, indexed), which lists an expert's reports.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from services.reports.domain import ReportRecord
from shared.envelope import CloudEvent
from shared.mongo import Document
from shared.unit_of_work import (
    APPLIED_FIELD,
    OUTBOX_FIELD,
    CaseDocuments,
    Change,
    Loaded,
    Tracking,
)

# The outbox and applied ids are the unit of work's business, not the domain's.
_RECORD_FIELDS = {OUTBOX_FIELD: 0, APPLIED_FIELD: 0}

# Given the report as it stands (None if there is none), the record to write and its events,
# or None to write nothing.
DecideReport = Callable[[ReportRecord | None], tuple[ReportRecord, Sequence[CloudEvent]] | None]


@dataclass(frozen=True)
class ReportChange:
    """The report as written (or as it stands when nothing was), and the events written."""

    record: ReportRecord | None
    events: Sequence[CloudEvent]
    written: bool


class Reports(Protocol):
    """The port the handlers use; `ReportsStore` on MongoDB, a fake in unit tests."""

    async def get(self, case_id: str) -> ReportRecord | None: ...

    async def change(
        self, case_id: str, decide: DecideReport, *, tracking: Tracking | None = None
    ) -> ReportChange: ...

    async def list_reports(self, query: Document, limit: int = 100) -> list[ReportRecord]: ...

    async def erase(self, case_id: str) -> bool:
        """Delete the case's report document (erasure); False if there was none."""


class ReportsStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.reports: AsyncCollection[Document] = db["reports"]
        self.documents = CaseDocuments(self.reports)

    async def ensure_indexes(self) -> None:
        await self.reports.create_index([("author_ids", ASCENDING)])

    async def get(self, case_id: str) -> ReportRecord | None:
        loaded = await self.documents.load(case_id)
        return _record(loaded.state)

    async def change(
        self, case_id: str, decide: DecideReport, *, tracking: Tracking | None = None
    ) -> ReportChange:
        def decide_document(loaded: Loaded) -> Change | None:
            decided = decide(_record(loaded.state))
            if decided is None:
                return None
            record, events = decided
            return Change(_document(record), events)

        outcome = await self.documents.change(case_id, decide_document, tracking=tracking)
        return ReportChange(_record(outcome.state), outcome.events, outcome.written)

    async def list_reports(self, query: Document, limit: int = 100) -> list[ReportRecord]:
        """The first `limit` reports matching `query`, in case order: one query, exact."""
        cursor = self.reports.find(
            query, projection=_RECORD_FIELDS, sort=[("_id", ASCENDING)], limit=limit
        )
        return [ReportRecord.model_validate(doc) async for doc in cursor]

    async def erase(self, case_id: str) -> bool:
        self.documents.forget(case_id)
        return (await self.reports.delete_one({"_id": case_id})).deleted_count > 0


def _record(state: Document | None) -> ReportRecord | None:
    return ReportRecord.model_validate(state) if state else None


def _document(record: ReportRecord) -> Document:
    return {
        **record.model_dump(mode="json"),
        # Derived, so listing an expert's reports is an indexed equality on a top-level field.
        "author_ids": record.authors.expert_ids() if record.authors else [],
    }
