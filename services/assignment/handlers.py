"""One function per consumed event and per command. Each changes one case with the events it
caused, atomically, through `change_case` (the unit of work, shared/unit_of_work.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

from services.assignment.domain import erasure, lifecycle, offers
from services.assignment.domain.cases import CaseFacts, CaseRecord
from services.assignment.domain.errors import NotFound
from services.assignment.domain.matching import chosen_candidate, rank_candidates
from services.assignment.domain.service_levels import ServiceLevelPolicy
from services.assignment.domain.transitions import OfferTerms, Transition
from services.assignment.store import AssignmentStore, document_of, record_of
from shared.consumer import Delivery, Handler
from shared.contracts import (
    CaseErased,
    CaseSubmitted,
    CaseUpdated,
    FinancialClearanceUpdated,
    RecordsReady,
    ReportIssued,
    payload_as,
)
from shared.contracts.common import Actor
from shared.envelope import make_event, new_event_id
from shared.outbox import EventsQueued, no_events_queued
from shared.unit_of_work import Change, Loaded, Tracking

SOURCE = "/services/assignment"
SERVICE = "assignment"

Decide = Callable[[CaseRecord, OfferTerms], Awaitable[Transition | None]]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class AssignmentContext:
    """What every handler needs: the store, the rules' settings, a clock, and the relay's nudge."""

    store: AssignmentStore
    policy: ServiceLevelPolicy = field(default_factory=ServiceLevelPolicy)
    offer_timeout: timedelta = timedelta(hours=24)
    clock: Callable[[], datetime] = _utc_now
    new_id: Callable[[], str] = new_event_id
    # Wakes the outbox relay for the document that holds new events.
    events_queued: EventsQueued = no_events_queued

    def terms(self) -> OfferTerms:
        return OfferTerms(now=self.clock(), timeout=self.offer_timeout, new_id=self.new_id)


async def change_case(
    ctx: AssignmentContext,
    case_id: str,
    decide: Decide,
    *,
    create: bool = False,
    tracking: Tracking | None = None,
) -> CaseRecord:
    """Read the case, decide, match the next candidate if needed, and write it all at once.

    With `create`, an unknown case starts empty (events may arrive in any order)."""

    async def decide_document(loaded: Loaded) -> Change | None:
        record = record_of(loaded)
        if record is None:
            if not create:
                raise NotFound("case_not_found", f"no case {case_id} is known here", "case_id")
            record = CaseRecord(case_id=case_id)
        terms = ctx.terms()
        transition = await decide(record, terms)
        if transition is None:
            return None
        if transition.match_next:
            transition = await _match_next(ctx, transition, terms)
        events = [
            make_event(p, source=SOURCE, subject=case_id, time=terms.now) for p in transition.events
        ]
        return Change(document_of(transition.record), events)

    outcome = await ctx.store.documents.change(case_id, decide_document, tracking=tracking)
    if outcome.state is None:
        return CaseRecord(case_id=case_id)
    record = record_of(Loaded(case_id, outcome.version, dict(outcome.state)))
    assert record is not None
    if outcome.written:
        ctx.store.noted(record, outcome.state)
        if outcome.events:
            ctx.events_queued(case_id, outcome.events)
    return record


async def _match_next(
    ctx: AssignmentContext, transition: Transition, terms: OfferTerms
) -> Transition:
    record = transition.record
    request = lifecycle.matching_request(record, ctx.policy.calendar, terms.now)
    roster = await ctx.store.roster_snapshot(case_id=record.case_id)
    ranking = rank_candidates(request, roster)
    return transition.then(offers.offer_best(record, ranking, terms))


# Consumed events: note what the event said and act on it, in one write that also records the
# event's id, so a redelivered event is a no-op.


async def on_case_submitted(delivery: Delivery, *, ctx: AssignmentContext) -> None:
    case = payload_as(delivery.payload, CaseSubmitted)
    # Only what matching needs; the child's and family's details stay with intake.
    facts = CaseFacts(
        specialty=case.specialty,
        urgency=case.urgency,
        language=case.guardian.preferred_language,
        referring_organization=case.referring_physician.organization,
        working_diagnosis=case.working_diagnosis,
        clearance_required=bool(case.financial_clearance_required),
    )
    await _consume(ctx, delivery, lambda record: lifecycle.submitted(record, facts))


async def on_case_erased(delivery: Delivery, *, ctx: AssignmentContext) -> None:
    """The family's personal data is erased: drop the free text matching kept."""
    payload_as(delivery.payload, CaseErased)
    await _consume(ctx, delivery, erasure.redact)


async def on_records_ready(delivery: Delivery, *, ctx: AssignmentContext) -> None:
    payload_as(delivery.payload, RecordsReady)
    # The clock starts when the records were ready, which is when the event happened.
    ready_at = delivery.event.time
    await _consume(ctx, delivery, lambda record: lifecycle.records_ready(record, ready_at))


async def on_financial_clearance(delivery: Delivery, *, ctx: AssignmentContext) -> None:
    clearance = payload_as(delivery.payload, FinancialClearanceUpdated)
    if clearance.state != "cleared":
        return  # "required" is already on case.submitted, which matching waits for anyway
    at = delivery.event.time
    await _consume(ctx, delivery, lambda record: lifecycle.financially_cleared(record, at))


async def on_case_updated(delivery: Delivery, *, ctx: AssignmentContext) -> None:
    change = payload_as(delivery.payload, CaseUpdated)
    at = delivery.event.time
    if change.change == "triaged":
        await _consume(ctx, delivery, lambda record: lifecycle.triaged(record, change.specialty))
    elif change.change == "cancelled":
        await _consume(ctx, delivery, lambda record: lifecycle.cancelled(record, at))
    # Notes, holds and resumes do not change the assignment.


async def on_report_issued(delivery: Delivery, *, ctx: AssignmentContext) -> None:
    report = payload_as(delivery.payload, ReportIssued)
    issued_at = report.issued_at
    await _consume(ctx, delivery, lambda record: lifecycle.report_issued(record, issued_at))


def consumer_handlers(ctx: AssignmentContext) -> dict[str, Handler]:
    return {
        "case.submitted": partial(on_case_submitted, ctx=ctx),
        "records.ready": partial(on_records_ready, ctx=ctx),
        "case.updated": partial(on_case_updated, ctx=ctx),
        "report.issued": partial(on_report_issued, ctx=ctx),
        "case.erased": partial(on_case_erased, ctx=ctx),
        "financial_clearance.updated": partial(on_financial_clearance, ctx=ctx),
    }


async def _consume(
    ctx: AssignmentContext, delivery: Delivery, note: Callable[[CaseRecord], CaseRecord]
) -> None:
    async def decide(record: CaseRecord, terms: OfferTerms) -> Transition | None:
        return lifecycle.settle(note(record), ctx.policy, terms)

    tracking = Tracking(SERVICE, delivery.event.id)
    await change_case(ctx, delivery.event.subject, decide, create=True, tracking=tracking)


# Commands from experts and staff.


async def accept_offer(
    *, ctx: AssignmentContext, case_id: str | None, offer_id: str, expert_id: str
) -> CaseRecord:
    """`case_id` is the case the offer was made for (queries.case_of_offer), None if none."""

    async def decide(record: CaseRecord, terms: OfferTerms) -> Transition | None:
        return offers.accept(record, offer_id, terms, expert_id=expert_id)

    return await change_case(ctx, _offered_case(case_id, offer_id), decide)


async def decline_offer(
    *, ctx: AssignmentContext, case_id: str | None, offer_id: str, expert_id: str, reason: str
) -> CaseRecord:
    async def decide(record: CaseRecord, terms: OfferTerms) -> Transition | None:
        return offers.decline(record, offer_id, terms, expert_id=expert_id, reason=reason)

    return await change_case(ctx, _offered_case(case_id, offer_id), decide)


async def assign_by_hand(
    *,
    ctx: AssignmentContext,
    case_id: str,
    actor: Actor,
    expert_id: str | None = None,
    board_id: str | None = None,
    note: str | None = None,
) -> CaseRecord:
    """Staff chose an expert (or a board, whose lead gets the offer); reassigns if assigned."""

    async def decide(record: CaseRecord, terms: OfferTerms) -> Transition:
        offers.require_assignable(record)
        request = lifecycle.matching_request(record, ctx.policy.calendar, terms.now)
        roster = await ctx.store.roster_snapshot(case_id=case_id)
        chosen = chosen_candidate(request, roster, expert_id=expert_id, board_id=board_id)
        return offers.staff_offer(record, chosen, terms, actor=actor, note=note)

    return await change_case(ctx, case_id, decide)


async def rematch_case(*, ctx: AssignmentContext, case_id: str, actor: Actor) -> CaseRecord:
    async def decide(record: CaseRecord, terms: OfferTerms) -> Transition:
        return offers.rematch(record, terms, actor=actor)

    return await change_case(ctx, case_id, decide)


async def expire_offer(*, ctx: AssignmentContext, case_id: str, offer_id: str) -> None:
    async def decide(record: CaseRecord, terms: OfferTerms) -> Transition | None:
        return offers.expire(record, offer_id, terms)

    await change_case(ctx, case_id, decide)


async def announce_service_levels(*, ctx: AssignmentContext, case_id: str) -> None:
    async def decide(record: CaseRecord, terms: OfferTerms) -> Transition | None:
        return lifecycle.announce_service_levels(record, terms.now)

    await change_case(ctx, case_id, decide)


def _offered_case(case_id: str | None, offer_id: str) -> str:
    if case_id is None:
        raise NotFound("offer_not_found", f"no offer {offer_id} for you", "offer_id")
    return case_id
