"""Event facts for the notify unit tests, built the way the handler builds them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.notify.domain.facts import EventFacts

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
_n = iter(range(1, 10_000))


def fact(event_type: str, minutes: int = 0, **facts: Any) -> EventFacts:
    n = next(_n)
    return EventFacts(
        event_id=f"e{n:05d}",
        case_id="case-1",
        event_type=event_type,
        time=T0 + timedelta(minutes=minutes),
        facts=facts,
    )


def submitted(minutes: int = 0, **changes: Any) -> EventFacts:
    facts = {
        "specialty": "neuro-oncology",
        "urgency": "routine",
        "initials": "A.Q.",
        "age": "10 y",
        "organization_id": "org-valley",
        "submitted_via": "family",
    }
    return fact("case.submitted", minutes, **{**facts, **changes})


def assigned(minutes: int, expert_id: str = "ana", urgency: str = "routine") -> EventFacts:
    return fact(
        "expert.assigned",
        minutes,
        expert_id=expert_id,
        expert_name=f"Dr. {expert_id.title()}",
        team=[],
        due_at=(T0 + timedelta(days=9)).isoformat(),
        urgency=urgency,
    )


def change(minutes: int, kind: str, **facts: Any) -> EventFacts:
    return fact("assignment.updated", minutes, change=kind, **facts)


def issued(minutes: int, version: int = 1, amends: int | None = None) -> EventFacts:
    return fact(
        "report.issued",
        minutes,
        report_id="rep-1",
        version=version,
        amends_version=amends,
        recipients=["guardian", "referring-physician"],
    )


def follow_up(
    minutes: int, change: str, open_questions: int, reason: str | None = None, by: str = "guardian"
) -> EventFacts:
    return fact(
        "followup.updated",
        minutes,
        change=change,
        asked_by=by,
        expert_ids=["ana", "ben"],
        open=open_questions,
        close_reason=reason,
    )


CONSULT_START = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)


def consult(minutes: int, change: str, **changes: Any) -> EventFacts:
    """A `consult.updated` as notify keeps it: a video consult asked for by the family."""
    facts: dict[str, Any] = {
        "consult_id": "c1",
        "change": change,
        "kind": "video",
        "requested_by": "guardian",
        "attendees": "both",
        "interpreter_language": "es",
        "requester_time_zone": "America/Mexico_City",
        "expert_id": None if change == "requested" else "ana",
        "expert_time_zone": "Europe/Madrid",
        "slots": [],
        "confirmed_slot": None,
        "meeting_url": "https://meet.example.org/abc",
        "sequence": 0,
        "cancel_reason": None,
    }
    if change in ("proposed", "rescheduled"):
        facts["slots"] = [
            {"start": CONSULT_START.isoformat(), "minutes": 45},
            {"start": (CONSULT_START + timedelta(days=1)).isoformat(), "minutes": 45},
        ]
    if change == "confirmed":
        facts["confirmed_slot"] = {"start": CONSULT_START.isoformat(), "minutes": 45}
    return fact("consult.updated", minutes, **{**facts, **changes})
