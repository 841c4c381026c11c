"""An in-memory `CaseStore` for fast tests, with the same insert-only semantics as MongoDB."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from services.intake.domain import CaseFilter, CaseRecord
from services.intake.progress import Milestone
from shared.envelope import CloudEvent
from shared.mongo import Document
from shared.versions import version_id


class InMemoryCaseStore:
    def __init__(self) -> None:
        self.versions: dict[str, list[CaseRecord]] = {}
        self.outbox: list[CloudEvent] = []
        self.claims: dict[str, Document] = {}
        self.milestones: dict[str, tuple[str, Milestone]] = {}

    async def get_case(self, case_id: str) -> CaseRecord | None:
        versions = self.versions.get(case_id)
        return versions[-1] if versions else None

    async def save_case(self, record: CaseRecord, events: Sequence[CloudEvent]) -> str | None:
        versions = self.versions.setdefault(record.case_id, [])
        if len(versions) != record.version:
            return None
        versions.append(record.model_copy(update={"version": record.version + 1}))
        self.outbox.extend(events)
        return version_id(record.case_id, record.version + 1)

    async def list_cases(
        self, case_filter: CaseFilter, *, today: date, limit: int, offset: int
    ) -> list[CaseRecord]:
        latest = [versions[-1] for versions in self.versions.values() if versions]
        latest.sort(key=lambda r: r.submitted_at, reverse=True)
        found = [r for r in latest if case_filter.matches(r, today)]
        return found[offset : offset + limit]

    async def claim(self, key: str, *, case_id: str, **facts: Any) -> Document:
        return self.claims.setdefault(key, {"_id": key, "case_id": case_id, **facts})

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
