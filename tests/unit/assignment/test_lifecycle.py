"""What consumed events do to a case: start, triage, cancellation, report, service levels."""

from __future__ import annotations

from datetime import timedelta

from services.assignment.domain import lifecycle
from tests.unit.assignment.factories import NOW, POLICY, facts, ready_record, terms
from tests.unit.assignment.transitions import (
    accepted_by_ana,
    changes,
    clock,
    match,
    offered,
    open_offer,
    update,
)


def test_nothing_starts_until_both_the_submission_and_the_records_are_in() -> None:
    only_submitted = ready_record(records_ready_at=None)
    settled = lifecycle.settle(only_submitted, POLICY, terms())
    assert settled.record.stage == "waiting"
    assert not settled.events and not settled.match_next


def test_settling_a_ready_case_starts_the_clock_and_asks_for_matching() -> None:
    settled = lifecycle.settle(ready_record(), POLICY, terms())
    level = settled.record.service_level
    assert level is not None and level.started_at == NOW
    assert level.due_at == NOW + timedelta(days=9)  # 7 business days from a Monday
    assert settled.record.assignment_id is not None
    assert settled.match_next and not settled.events


def test_not_sure_is_sent_to_triage_once_and_triage_starts_matching() -> None:
    record = ready_record(facts=facts(specialty="not-sure"))
    settled = lifecycle.settle(record, POLICY, terms())
    assert settled.record.stage == "needs-triage"
    assert changes(settled) == ["no-expert-available"]
    assert update(settled, 0).reasons == ["specialty needs triage"]
    again = lifecycle.settle(settled.record, POLICY, terms())
    assert not again.events and not again.match_next

    triaged = settled.record.model_copy(
        update={"triaged_specialty": "neuro-oncology", "rematch_requested": True}
    )
    after_triage = match(lifecycle.settle(triaged, POLICY, terms()))
    assert after_triage.record.stage == "offered"
    assert changes(after_triage) == ["offered"]


def test_cancellation_withdraws_the_offer_and_stops_the_clock_without_an_event() -> None:
    record = offered().model_copy(update={"cancelled_at": NOW + timedelta(hours=2)})
    cancelled = lifecycle.settle(record, POLICY, terms())
    assert cancelled.record.stage == "cancelled" and not cancelled.events
    assert cancelled.record.offers[0].status == "withdrawn"
    assert clock(cancelled.record).stopped_at == NOW + timedelta(hours=2)
    assert cancelled.record.load_expert_ids() == []


def test_the_report_stops_the_clock_and_no_point_is_announced_afterwards() -> None:
    record = offered()
    assigned = accepted_by_ana(record)
    reported_at = NOW + timedelta(days=3)
    reported = lifecycle.settle(
        assigned.model_copy(update={"report_issued_at": reported_at}),
        POLICY,
        terms(),
    ).record
    assert reported.stage == "reported"
    assert clock(reported).stopped_at == reported_at
    assert lifecycle.announce_service_levels(reported, NOW + timedelta(days=30)) is None
    assert reported.assigned_keys() == ["expert:ana"]  # still counts for fairness


def test_service_level_points_are_announced_once_with_whoever_holds_the_case() -> None:
    record = offered()
    level = record.service_level
    assert level is not None
    assert (
        lifecycle.announce_service_levels(record, level.at_risk_at - timedelta(seconds=1)) is None
    )
    at_risk = lifecycle.announce_service_levels(record, level.at_risk_at)
    assert at_risk is not None and changes(at_risk) == ["service-level-at-risk"]
    assert update(at_risk, 0).expert == open_offer(record).lead
    assert lifecycle.announce_service_levels(at_risk.record, level.at_risk_at) is None
    overdue = lifecycle.announce_service_levels(at_risk.record, level.due_at)
    assert overdue is not None and changes(overdue) == ["service-level-overdue"]


def test_triage_of_an_assigned_case_keeps_the_assignment() -> None:
    record = offered()
    assigned = accepted_by_ana(record)
    triaged = assigned.model_copy(
        update={"triaged_specialty": "oncology", "rematch_requested": True}
    )
    settled = lifecycle.settle(triaged, POLICY, terms())
    assert settled.record.stage == "assigned" and not settled.match_next and not settled.events


def test_triage_to_another_specialty_withdraws_a_matched_offer() -> None:
    record = offered().model_copy(
        update={"triaged_specialty": "oncology", "rematch_requested": True}
    )
    settled = lifecycle.settle(record, POLICY, terms())
    assert settled.match_next
    assert settled.record.offers[0].status == "withdrawn"


def test_a_case_awaiting_financial_clearance_is_not_offered_until_cleared() -> None:
    record = ready_record(facts=facts(clearance_required=True))
    waiting = lifecycle.settle(record, POLICY, terms())
    assert waiting.record.stage == "waiting" and waiting.record.awaiting_clearance
    assert not waiting.events and not waiting.match_next

    cleared_at = NOW + timedelta(hours=3)
    cleared = lifecycle.financially_cleared(waiting.record, cleared_at)
    settled = lifecycle.settle(cleared, POLICY, terms(cleared_at))
    assert settled.match_next and settled.record.stage == "unassigned"
    # The expert's clock starts when the case could go to them, not when records came.
    assert clock(settled.record).started_at == cleared_at
    assert changes(match(settled)) == ["offered"]


def test_a_clearance_before_the_records_waits_for_the_records() -> None:
    record = ready_record(facts=facts(clearance_required=True), records_ready_at=None)
    cleared = lifecycle.financially_cleared(record, NOW - timedelta(hours=1))
    settled = lifecycle.settle(cleared, POLICY, terms())
    assert settled.record.stage == "waiting" and not settled.match_next
    ready = lifecycle.records_ready(settled.record, NOW)
    started = lifecycle.settle(ready, POLICY, terms())
    assert started.match_next and clock(started.record).started_at == NOW


def test_a_cancelled_case_awaiting_clearance_stays_unoffered_when_cleared() -> None:
    record = ready_record(facts=facts(clearance_required=True))
    cancelled = lifecycle.cancelled(record, NOW)
    closed = lifecycle.settle(cancelled, POLICY, terms()).record
    assert closed.stage == "cancelled"
    late = lifecycle.settle(lifecycle.financially_cleared(closed, NOW), POLICY, terms())
    assert late.record.stage == "cancelled" and not late.match_next and not late.events
