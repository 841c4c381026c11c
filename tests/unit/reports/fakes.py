"""A hand-written fake of the report revisions: the same insert-only compare-and-set."""

from __future__ import annotations

from collections.abc import Sequence

from services.reports.domain import ReportRecord
from shared.envelope import CloudEvent
from shared.mongo import Document


class FakeReportRevisions:
    def __init__(self) -> None:
        self.latest: dict[str, ReportRecord] = {}
        self.outbox: list[CloudEvent] = []
        self.saves = 0

    async def get(self, case_id: str) -> ReportRecord | None:
        return self.latest.get(case_id)

    async def save(
        self, *, read_revision: int, record: ReportRecord, events: Sequence[CloudEvent] = ()
    ) -> str | None:
        current = self.latest.get(record.case_id)
        if (current.revision if current else 0) != read_revision:
            return None
        self.latest[record.case_id] = record.model_copy(update={"revision": read_revision + 1})
        self.outbox.extend(events)
        self.saves += 1
        return f"{record.case_id}#{read_revision + 1:010d}"

    async def list_latest(self, query: Document, limit: int = 100) -> list[ReportRecord]:
        return list(self.latest.values())[:limit]
