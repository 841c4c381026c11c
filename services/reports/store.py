"""The reports service's own collections: the revisions of each case's report, and which
outbox events were already published.

A report is a chain of immutable revisions (`shared/versions.py`: the revision is the version),
one document each, `_id` = `<case id>#<revision>`. A command reads the latest, decides, and
inserts the next revision with its events in the document's outbox: the unique `_id` makes that
insert the compare-and-set, so of two concurrent writers exactly one wins (FerretDB 1.x has no
transactions, and a filtered `update_one` there is not atomic under concurrency). Events still
pending in the revision being replaced are carried into the new one, so pruning superseded
revisions never loses one; `published_events` keeps such an event from going out twice.
Reads are by `_id` (FerretDB indexes nothing else).
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
from shared.outbox import OUTBOX_FIELD, save_next_version
from shared.versions import VERSIONS_ONLY, VersionChain

LATEST_FIRST = [("case_id", ASCENDING), ("revision", DESCENDING)]
# The outbox is the relay's business, not the domain's.
_RECORD_FIELDS = {OUTBOX_FIELD: 0}


class ReportRevisions(Protocol):
    """The port the handlers use; `ReportsStore` on MongoDB, a fake in unit tests."""

    async def get(self, case_id: str) -> ReportRecord | None: ...

    async def save(
        self, *, read_revision: int, record: ReportRecord, events: Sequence[CloudEvent] = ()
    ) -> str | None: ...

    async def list_latest(self, query: Document, limit: int = 100) -> list[ReportRecord]: ...


class ReportsStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.reports: AsyncCollection[Document] = db["reports"]
        # One document per event id the relay has published, so a revision that carried an
        # event forward does not publish it a second time.
        self.published: AsyncCollection[Document] = db["published_events"]
        self.versions = VersionChain(self.reports, db["report_heads"])

    async def ensure_indexes(self) -> None:
        await self.reports.create_index(LATEST_FIRST)
        await self.reports.create_index([("authors.lead.expert_id", ASCENDING)])
        await self.reports.create_index([("author_ids", ASCENDING)])

    async def get(self, case_id: str) -> ReportRecord | None:
        """The latest revision of the case's report."""
        doc = await self.versions.latest(case_id, projection=_RECORD_FIELDS)
        return ReportRecord.model_validate(doc) if doc else None

    async def save(
        self, *, read_revision: int, record: ReportRecord, events: Sequence[CloudEvent] = ()
    ) -> str | None:
        """Insert the revision after `read_revision` with its events; its `_id`, or None if
        another writer inserted it first (then nothing was written)."""
        revision = read_revision + 1
        state = {
            **record.model_dump(mode="json", exclude={"revision"}),
            "revision": revision,
            # Derived, so listing an expert's reports needs no scan of the authors.
            "author_ids": record.authors.expert_ids() if record.authors else [],
            "status": record.status,
        }
        return await save_next_version(self.versions, record.case_id, read_revision, state, events)

    async def list_latest(self, query: Document, limit: int = 100) -> list[ReportRecord]:
        """The latest revision of each report with some revision matching `query` (callers
        check the latest still matches: a superseded revision may be all that did)."""
        query = {**VERSIONS_ONLY, **query}
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
