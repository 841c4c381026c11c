"""An in-memory `CaseStore` for fast tests, with the same semantics as the MongoDB one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from services.intake.domain import CaseFilter, CaseRecord
from services.intake.progress import Milestone
from services.intake.store import CaseChange, DecideCase
from shared.envelope import CloudEvent
from shared.mongo import Document


class InMemoryCaseStore:
    def __init__(self) -> None:
        self.cases: dict[str, CaseRecord] = {}
        self.outbox: list[CloudEvent] = []
        self.claims: dict[str, Document] = {}
        self.milestones: dict[str, tuple[str, Milestone]] = {}
        # Answers to hospital submissions, by submission id, as queued for the relay.
        self.answers: dict[str, CloudEvent] = {}

    async def get_case(self, case_id: str) -> CaseRecord | None:
        return self.cases.get(case_id)

    async def change_case(
        self, case_id: str, decide: DecideCase, *, expect_new: bool = False
    ) -> CaseChange:
        current = self.cases.get(case_id)
        decided = decide(current)
        if decided is None:
            return CaseChange(current, (), written=False)
        record, events = decided
        version = current.version + 1 if current else 1
        self.cases[case_id] = written = record.model_copy(update={"version": version})
        self.outbox.extend(events)
        return CaseChange(written, events, written=True)

    async def list_cases(
        self, case_filter: CaseFilter, *, today: date, limit: int, offset: int
    ) -> list[CaseRecord]:
        newest_first = sorted(self.cases.values(), key=lambda r: r.submitted_at, reverse=True)
        found = [r for r in newest_first if case_filter.matches(r, today)]
        return found[offset : offset + limit]

    async def claim(self, key: str, *, case_id: str, **facts: Any) -> Document:
        return self.claims.setdefault(key, {"_id": key, "case_id": case_id, **facts})

    async def answer_submission(self, submission_id: str, answer: CloudEvent) -> bool:
        if submission_id in self.answers:
            return False
        self.answers[submission_id] = answer
        return True

    async def add_milestone(self, case_id: str, milestone: Milestone) -> bool:
        if milestone.event_id in self.milestones:
            return False
        self.milestones[milestone.event_id] = (case_id, milestone)
        return True

    async def milestones_of(self, case_id: str) -> list[Milestone]:
        return [m for owner, m in self.milestones.values() if owner == case_id]

    async def milestones_of_cases(self, case_ids: Sequence[str]) -> dict[str, list[Milestone]]:
        found: dict[str, list[Milestone]] = {}
        for owner, milestone in self.milestones.values():
            if owner in case_ids:
                found.setdefault(owner, []).append(milestone)
        return found

    async def closed_cases(self, *, limit: int) -> list[tuple[str, datetime]]:
        closed: dict[str, datetime] = {}
        for record in self.cases.values():
            erased = record.erasure is not None and record.erasure.state == "erased"
            if record.status == "cancelled" and not erased and record.history:
                closed[record.case_id] = record.history[-1].at
        for owner, milestone in self.milestones.values():
            if milestone.event_type == "report.issued":
                closed[owner] = max(milestone.time, closed.get(owner, milestone.time))
        return list(closed.items())[:limit]
