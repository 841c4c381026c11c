"""Where a case stands for the family, derived from the events of the other services. No I/O.

Intake keeps each consumed event as its own document (see store.py), so the stage is computed
from all of them on read, whatever order they arrived in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Stage = Literal[
    "submitted", "gathering-records", "records-complete", "with-expert", "report-issued"
]
STAGES: tuple[Stage, ...] = (
    "submitted",
    "gathering-records",
    "records-complete",
    "with-expert",
    "report-issued",
)
STAGE_OF_EVENT: dict[str, Stage] = {
    "records.updated": "gathering-records",
    "records.ready": "records-complete",
    "expert.assigned": "with-expert",
    "report.issued": "report-issued",
}
# Not a stage: after the report, whether a follow-up question still waits for its answer.
FOLLOW_UP = "followup.updated"
PROGRESS_TYPES: tuple[str, ...] = (*STAGE_OF_EVENT, FOLLOW_UP)


@dataclass(frozen=True)
class Milestone:
    """What intake keeps of one consumed event: its type, its time and a few PHI-free facts."""

    event_id: str
    event_type: str
    time: datetime
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Progress:
    stage: Stage
    reached: dict[Stage, datetime]
    required: list[str]
    present: list[str]
    missing: list[str]
    report_version: int | None
    # Follow-up questions asked after the report and not yet answered or closed.
    open_follow_ups: int = 0


def facts_of(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """The few facts the status page needs from an event (no names, no documents)."""
    if event_type == "records.updated":
        return {key: list(data.get(key, [])) for key in ("required", "present", "missing")}
    if event_type == "records.ready":
        completeness = data.get("completeness", {})
        return {key: list(completeness.get(key, [])) for key in ("required", "present")}
    if event_type == "report.issued":
        return {"version": data.get("version")}
    if event_type == FOLLOW_UP:
        return {"open_questions": data.get("open_questions"), "at": data.get("at")}
    return {}


def derive(submitted_at: datetime, milestones: Iterable[Milestone]) -> Progress:
    """The furthest stage reached, and the checklist as the latest records event says."""
    ordered = sorted(milestones, key=lambda m: (m.time, m.event_id))
    reached: dict[Stage, datetime] = {"submitted": submitted_at}
    required: list[str] = []
    present: list[str] = []
    missing: list[str] = []
    records_complete = False
    report_version: int | None = None
    open_follow_ups, follow_up_at = 0, ""
    for milestone in ordered:
        if milestone.event_type == FOLLOW_UP:
            # Each event says how many are open after it; the latest change says it last. ISO
            # times of one service in UTC compare as text.
            at = str(milestone.facts.get("at") or "")
            count = milestone.facts.get("open_questions")
            if isinstance(count, int) and at >= follow_up_at:
                open_follow_ups, follow_up_at = count, at
            continue
        reaches = STAGE_OF_EVENT.get(milestone.event_type)
        if reaches is None:
            continue
        reached.setdefault(reaches, milestone.time)
        facts = milestone.facts
        if milestone.event_type == "records.updated" and not records_complete:
            required, present = facts.get("required", []), facts.get("present", [])
            missing = facts.get("missing", [])
        elif milestone.event_type == "records.ready":
            records_complete = True
            required, present, missing = facts.get("required", []), facts.get("present", []), []
        elif milestone.event_type == "report.issued":
            version = facts.get("version")
            if isinstance(version, int):
                report_version = max(report_version or 0, version)
    stage = max(reached, key=STAGES.index)
    return Progress(stage, reached, required, present, missing, report_version, open_follow_ups)
