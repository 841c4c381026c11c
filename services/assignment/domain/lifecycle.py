"""What the consumed events mean for a case: start its clock and matching, follow triage,
close it on cancellation or report, and announce at-risk and overdue once each."""

from __future__ import annotations

from datetime import datetime

from services.assignment.domain.cases import CLOSED_STAGES, CaseFacts, CaseRecord, Stage
from services.assignment.domain.matching import NEEDS_TRIAGE, MatchRequest
from services.assignment.domain.offers import withdraw_open_offer
from services.assignment.domain.service_levels import BusinessCalendar, ServiceLevelPolicy
from services.assignment.domain.transitions import OfferTerms, Transition, updated
from shared.contracts.common import Specialty


def submitted(record: CaseRecord, facts: CaseFacts) -> CaseRecord:
    """Keep the first submission: triage, not a repeated submission, changes the specialty."""
    return record if record.facts else record.model_copy(update={"facts": facts})


def records_ready(record: CaseRecord, at: datetime) -> CaseRecord:
    return record.model_copy(update={"records_ready_at": _earliest(record.records_ready_at, at)})


def financially_cleared(record: CaseRecord, at: datetime) -> CaseRecord:
    return record.model_copy(
        update={"financially_cleared_at": _earliest(record.financially_cleared_at, at)}
    )


def triaged(record: CaseRecord, specialty: Specialty) -> CaseRecord:
    return record.model_copy(update={"triaged_specialty": specialty, "rematch_requested": True})


def cancelled(record: CaseRecord, at: datetime) -> CaseRecord:
    return record.model_copy(update={"cancelled_at": _earliest(record.cancelled_at, at)})


def report_issued(record: CaseRecord, at: datetime) -> CaseRecord:
    return record.model_copy(update={"report_issued_at": _earliest(record.report_issued_at, at)})


def settle(record: CaseRecord, policy: ServiceLevelPolicy, terms: OfferTerms) -> Transition:
    """Act on what the consumed events said: start, re-match after triage, or close."""
    done = record.model_copy(update={"rematch_requested": False})
    if record.stage in CLOSED_STAGES:
        return Transition(done)
    if record.cancelled_at is not None:
        return Transition(_close(done, "cancelled", record.cancelled_at, terms))
    if record.report_issued_at is not None:
        return Transition(_close(done, "reported", record.report_issued_at, terms))
    if record.facts is None or record.records_ready_at is None:
        return Transition(done)
    if record.stage == "waiting" and record.awaiting_clearance:
        # Records may come in; no expert sees the case until the program's billing clears it.
        return Transition(done)
    if record.stage == "waiting":
        return _start(done, policy, terms)
    if record.rematch_requested:
        return _after_triage(done, terms)
    return Transition(done)


def announce_service_levels(record: CaseRecord, now: datetime) -> Transition | None:
    """Raise at-risk and overdue, each exactly once; None when nothing is due."""
    level = record.service_level
    if level is None or record.stage in CLOSED_STAGES:
        return None
    changes = level.changes_due(now)
    if not changes:
        return None
    after = record.model_copy(update={"service_level": level.announced(changes)})
    holder = record.assignment or record.open_offer
    expert = holder.lead if holder else None
    reasons = [f"due {level.due_at.isoformat(timespec='minutes')}", f"case is {record.stage}"]
    events = []
    for change in changes:
        after = after.logged(now, change, expert_id=expert.expert_id if expert else None)
        events.append(updated(after, change, expert=expert, reasons=reasons))
    return Transition(after, tuple(events))


def matching_request(record: CaseRecord, calendar: BusinessCalendar, now: datetime) -> MatchRequest:
    facts, level = record.facts, record.service_level
    if facts is None:
        raise ValueError("matching needs the case's facts")
    today = calendar.local_date(now)
    return MatchRequest(
        specialty=record.specialty or "not-sure",
        language=facts.language,
        referring_organization=facts.referring_organization,
        working_diagnosis=facts.working_diagnosis,
        offered_on=today,
        due_on=max(today, calendar.local_date(level.due_at)) if level else today,
        excluded_keys=frozenset(record.tried_keys),
    )


def _start(record: CaseRecord, policy: ServiceLevelPolicy, terms: OfferTerms) -> Transition:
    """Both case.submitted and records.ready are in (and the clearance, if required): start the
    clock, then match. The clock starts when the last of them came: the expert's time is not
    spent waiting on billing."""
    assert record.facts is not None and record.records_ready_at is not None
    started_at = record.records_ready_at
    if record.facts.clearance_required and record.financially_cleared_at is not None:
        started_at = max(started_at, record.financially_cleared_at)
    level = policy.start(record.facts.urgency, started_at)
    started = record.model_copy(
        update={"service_level": level, "assignment_id": terms.new_id(), "stage": "unassigned"}
    )
    if record.specialty == "not-sure":
        return _needs_triage(started, terms)
    return Transition(started, match_next=True)


def _after_triage(record: CaseRecord, terms: OfferTerms) -> Transition:
    """The intake team chose a specialty: match again unless someone fitting has the case."""
    if record.specialty == "not-sure":
        return Transition(record)
    offer = record.open_offer
    if record.stage in ("needs-triage", "unassigned"):
        return Transition(record.model_copy(update={"tried_keys": []}), match_next=True)
    if offer and offer.chosen_by == "matching" and offer.specialty != record.specialty:
        withdrawn = withdraw_open_offer(record, terms).model_copy(update={"tried_keys": []})
        return Transition(withdrawn, match_next=True)
    return Transition(record)


def _needs_triage(record: CaseRecord, terms: OfferTerms) -> Transition:
    reasons = [NEEDS_TRIAGE]
    after = record.model_copy(update={"stage": "needs-triage", "reasons": reasons}).logged(
        terms.now, "no-expert-available", reasons=reasons
    )
    return Transition(after, (updated(after, "no-expert-available", reasons=reasons),))


def _earliest(known: datetime | None, new: datetime) -> datetime:
    return new if known is None else min(known, new)


def _close(record: CaseRecord, stage: Stage, at: datetime, terms: OfferTerms) -> CaseRecord:
    """Cancelled or reported: withdraw any open offer and stop the clock; no event is needed,
    since the cancellation or the report is already on its own topic."""
    level = record.service_level.stop(at) if record.service_level else None
    return (
        withdraw_open_offer(record, terms)
        .model_copy(update={"stage": stage, "service_level": level})
        .logged(terms.now, stage)
    )
