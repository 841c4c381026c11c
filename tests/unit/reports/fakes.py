"""A hand-written fake of the reports port: a change decides on the report as it stands."""

from __future__ import annotations

from services.reports.domain import ReportRecord
from services.reports.store import DecideReport, ReportChange
from shared.envelope import CloudEvent
from shared.mongo import Document
from shared.unit_of_work import Tracking


class FakeReports:
    def __init__(self) -> None:
        self.latest: dict[str, ReportRecord] = {}
        self.outbox: list[CloudEvent] = []
        self.applied: set[str] = set()
        self.saves = 0

    async def get(self, case_id: str) -> ReportRecord | None:
        return self.latest.get(case_id)

    async def change(
        self, case_id: str, decide: DecideReport, *, tracking: Tracking | None = None
    ) -> ReportChange:
        current = self.latest.get(case_id)
        if tracking is not None and tracking.event_id in self.applied:
            return ReportChange(current, (), written=False)
        decided = decide(current)
        if decided is None:
            return ReportChange(current, (), written=False)
        record, events = decided
        self.latest[case_id] = record
        self.outbox.extend(events)
        if tracking is not None:
            self.applied.add(tracking.event_id)
        self.saves += 1
        return ReportChange(record, events, written=True)

    async def list_reports(self, query: Document, limit: int = 100) -> list[ReportRecord]:
        return list(self.latest.values())[:limit]

    async def erase(self, case_id: str) -> bool:
        return self.latest.pop(case_id, None) is not None
