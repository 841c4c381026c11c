"""Experts see a case while offered or assigned, and not after."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.contracts import AssignmentUpdated, ExpertAssigned
from shared.contracts.expert_assigned import ExpertRef
from shared.expert_access import experts_after

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def ref(expert_id: str) -> ExpertRef:
    return ExpertRef(expert_id=expert_id, display_name=f"Dr {expert_id}", specialty="oncology")


def update(change: str, expert_id: str) -> AssignmentUpdated:
    return AssignmentUpdated.model_validate(
        {"case_id": "c1", "assignment_id": "a1", "change": change, "expert": ref(expert_id)}
    )


def assigned(lead: str, *team: str) -> ExpertAssigned:
    return ExpertAssigned(
        case_id="c1",
        assignment_id="a1",
        lead=ref(lead),
        team=[ref(t) for t in team],
        urgency="routine",
        assigned_at=NOW,
        due_at=NOW,
    )


def test_an_offer_shows_the_case_until_declined_or_expired() -> None:
    experts = experts_after({}, update("offered", "ana"))
    assert experts == {"ana": "offered"}
    assert experts_after(experts, update("declined", "ana")) == {}
    assert experts_after(experts, update("offer-expired", "ana")) == {}


def test_an_assignment_replaces_offers_and_a_reassignment_ends_it() -> None:
    experts = experts_after({"ana": "offered", "ben": "offered"}, assigned("ana", "cy", "dee"))
    assert experts == {"ana": "assigned", "cy": "assigned", "dee": "assigned"}
    assert experts_after(experts, update("declined", "ana")) == experts
    assert "ana" not in experts_after(experts, update("reassigned", "ana"))
