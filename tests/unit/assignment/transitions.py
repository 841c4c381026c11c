"""Helpers for the transition tests: a small roster, and what the handlers do between steps."""

from __future__ import annotations

from services.assignment.domain import lifecycle, offers
from services.assignment.domain.cases import CaseRecord, Offer
from services.assignment.domain.matching import RosterSnapshot, rank_candidates
from services.assignment.domain.service_levels import ServiceLevel
from services.assignment.domain.transitions import Transition
from shared.contracts import AssignmentUpdated
from shared.contracts.common import Actor
from tests.unit.assignment.factories import NOW, POLICY, board, expert, ready_record, roster, terms

STAFF = Actor(subject="staff-1", role="intake-staff")
ROSTER = roster(
    expert("ana", subspecialties=["medulloblastoma"], languages=["es"]),
    expert("ben"),
    expert("carla", specialty="neurosurgery"),
    expert("conflicted", institution="Valley Pediatrics"),
    boards=(board("tumor", "ana", ["carla"], keywords=["ependymoma"]),),
)


def changes(transition: Transition) -> list[str]:
    return [
        e.change if isinstance(e, AssignmentUpdated) else e.event_type for e in transition.events
    ]


def update(transition: Transition, index: int) -> AssignmentUpdated:
    event = transition.events[index]
    assert isinstance(event, AssignmentUpdated)
    return event


def open_offer(record: CaseRecord) -> Offer:
    assert record.open_offer is not None
    return record.open_offer


def clock(record: CaseRecord) -> ServiceLevel:
    assert record.service_level is not None
    return record.service_level


def accepted_by_ana(record: CaseRecord) -> CaseRecord:
    return offers.accept(record, open_offer(record).offer_id, terms(), expert_id="ana").record


def match(transition: Transition, snapshot: RosterSnapshot = ROSTER) -> Transition:
    """What the handler does when a transition asks for the next best candidate."""
    assert transition.match_next
    record = transition.record
    request = lifecycle.matching_request(record, POLICY.calendar, NOW)
    return transition.then(offers.offer_best(record, rank_candidates(request, snapshot), terms()))


def offered(record: CaseRecord | None = None) -> CaseRecord:
    started = lifecycle.settle(record or ready_record(), POLICY, terms())
    return match(started).record
