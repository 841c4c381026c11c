"""The reports service's own collections: the revisions of each case's report, and which
outbox events were already published.

A report is a chain of immutable revisions, one document each, `_id` = `<case id>#<revision>`.
A command reads the latest, decides, and inserts the next revision with its events in the
document's outbox: the unique `_id` makes that insert the compare-and-set, so of two
concurrent writers exactly one wins (FerretDB 1.x has no transactions, and a filtered
`update_one` there is not atomic under concurrency). Events still pending in the revision being
replaced are carried into the new one, so deleting superseded revisions never loses one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Protocol

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.reports.domain import ReportRecord
from shared.envelope import CloudEvent
from shared.mongo import Document
from shared.outbox import OUTBOX_FIELD

LATEST_FIRST = [("case_id", ASCENDING), ("revision", DESCENDING)]
# The outbox is the relay's business, not the domain's.
_RECORD_FIELDS = {OUTBOX_FIELD: 0}


class ReportRevisions(Protocol):
    """The port the handlers use; `ReportsStore` on MongoDB, a fake in unit tests."""

    async def get(self, case_id: str) -> ReportRecord | None: ...

    async def save(
        self, *, read_revision: int, record: ReportRecord, events: Sequence[CloudEvent] = ()
    ) -> bool: ...

    async def list_latest(self, query: Document, limit: int = 100) -> list[ReportRecord]: ...


class ReportsStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.reports: AsyncCollection[Document] = db["reports"]
        # One document per event id the relay has published, so a revision that carried an
        # event forward does not publish it a second time.
        self.published: AsyncCollection[Document] = db["published_events"]

    async def ensure_indexes(self) -> None:
        await self.reports.create_index(LATEST_FIRST)
        await self.reports.create_index([("authors.lead.expert_id", ASCENDING)])
        await self.reports.create_index([("author_ids", ASCENDING)])

    async def get(self, case_id: str) -> ReportRecord | None:
        """The latest revision of the case's report."""
        doc = await self.reports.find_one(
            {"case_id": case_id}, projection=_RECORD_FIELDS, sort=[("revision", DESCENDING)]
        )
        return ReportRecord.model_validate(doc) if doc else None

    async def save(
        self, *, read_revision: int, record: ReportRecord, events: Sequence[CloudEvent] = ()
    ) -> bool:
        """Insert the revision after `read_revision` with its events; False if another writer
        inserted it first (then nothing was written)."""
        revision = read_revision + 1
        previous = await self.reports.find_one(
            {"_id": revision_id(record.case_id, read_revision)}, projection={OUTBOX_FIELD: 1}
        )
        outbox = dict((previous or {}).get(OUTBOX_FIELD) or {})
        outbox.update({e.id: e.model_dump(mode="json") for e in events})
        doc = {
            **record.model_dump(mode="json", exclude={"revision"}),
            "_id": revision_id(record.case_id, revision),
            "revision": revision,
            # Derived, so listing an expert's reports needs no scan of the authors.
            "author_ids": record.authors.expert_ids() if record.authors else [],
            "status": record.status,
            OUTBOX_FIELD: outbox,
        }
        try:
            await self.reports.insert_one(doc)
        except DuplicateKeyError:
            return False
        await self.reports.delete_many({"case_id": record.case_id, "revision": {"$lt": revision}})
        return True

    async def list_latest(self, query: Document, limit: int = 100) -> list[ReportRecord]:
        """The latest revision of each report with some revision matching `query` (callers
        check the latest still matches: a superseded revision may be all that did)."""
        cursor = self.reports.find(query, projection={"case_id": 1}, sort=LATEST_FIRST)
        case_ids = list(dict.fromkeys([str(doc["case_id"]) async for doc in cursor]))[:limit]
        latest: dict[str, ReportRecord] = {}
        found = self.reports.find({"case_id": {"$in": case_ids}}, projection=_RECORD_FIELDS)
        async for doc in found:
            record = ReportRecord.model_validate(doc)
            known = latest.get(record.case_id)
            if known is None or record.revision > known.revision:
                latest[record.case_id] = record
        return [latest[c] for c in case_ids if c in latest]

    async def already_published(self, event_ids: Sequence[str]) -> set[str]:
        cursor = self.published.find({"_id": {"$in": list(event_ids)}}, projection={"_id": 1})
        return {str(doc["_id"]) async for doc in cursor}

    async def mark_published(self, event_ids: Sequence[str]) -> None:
        for event_id in event_ids:
            with contextlib.suppress(DuplicateKeyError):
                await self.published.insert_one({"_id": event_id})


def revision_id(case_id: str, revision: int) -> str:
    return f"{case_id}#{revision:010d}"
