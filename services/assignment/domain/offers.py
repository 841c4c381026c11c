"""The offer state machine: open → accepted | declined | expired | withdrawn.

A case has at most one open offer. Declined and expired offers put their candidate on the
case's tried list, so the next best is someone else; when nobody is left the case becomes
`unassigned` and staff are told. Every function is pure and raises `AssignmentError`s.
"""

from __future__ import annotations

from typing import Literal

from services.assignment.domain.cases import (
    CLOSED_STAGES,
    Assignment,
    CaseRecord,
    Offer,
    OfferStatus,
)
from services.assignment.domain.errors import Conflict, NotFound
from services.assignment.domain.matching import NEEDS_TRIAGE, Candidate, Ranking, check_conflict
from services.assignment.domain.transitions import OfferTerms, Transition, updated
from shared.contracts import ExpertAssigned
from shared.contracts.assignment_updated import AssignmentChange
from shared.contracts.common import Actor


def offer_best(record: CaseRecord, ranking: Ranking, terms: OfferTerms) -> Transition:
    """Offer the case to the best candidate, or say that nobody is left and why."""
    best = ranking.best
    if best is not None:
        return open_offer(record, best, terms, reasons=ranking.explain_choice())
    reasons = ranking.explain_nobody()
    stage = "needs-triage" if NEEDS_TRIAGE in ranking.exclusions else "unassigned"
    after = record.model_copy(update={"stage": stage, "reasons": reasons}).logged(
        terms.now, "no-expert-available", reasons=reasons
    )
    return Transition(after, (updated(after, "no-expert-available", reasons=reasons),))


def open_offer(
    record: CaseRecord,
    candidate: Candidate,
    terms: OfferTerms,
    *,
    reasons: list[str],
    actor: Actor | None = None,
) -> Transition:
    if record.open_offer is not None:
        raise Conflict("offer_already_open", "the case already has an open offer")
    offer = Offer(
        offer_id=terms.new_id(),
        assignment_id=record.assignment_id or terms.new_id(),
        candidate_key=candidate.key,
        lead=candidate.lead.ref(),
        team=[member.ref() for member in candidate.team],
        board_id=candidate.board.board_id if candidate.board else None,
        specialty=record.specialty or "not-sure",
        offered_at=terms.now,
        expires_at=terms.now + terms.timeout,
        reasons=reasons,
        chosen_by="staff" if actor else "matching",
        actor=actor,
    )
    after = (
        record.with_offer(offer)
        .model_copy(
            update={"stage": "offered", "reasons": reasons, "assignment_id": offer.assignment_id}
        )
        .logged(
            terms.now,
            "offered",
            expert_id=offer.lead.expert_id,
            board_id=offer.board_id,
            actor=actor,
            reasons=reasons,
        )
    )
    event = updated(
        after,
        "offered",
        expert=offer.lead,
        reasons=reasons,
        offer_id=offer.offer_id,
        offer_expires_at=offer.expires_at,
        actor=actor,
    )
    return Transition(after, (event,))


def staff_offer(
    record: CaseRecord, candidate: Candidate, terms: OfferTerms, *, actor: Actor, note: str | None
) -> Transition:
    """Staff chose the expert or board: take the case from whoever has it and offer it."""
    require_assignable(record)
    assert record.facts is not None  # require_assignable checked it
    conflicted = check_conflict(
        candidate.team or (candidate.lead,), record.facts.referring_organization
    )
    if conflicted:
        raise Conflict(
            "conflict_of_interest",
            f"expert {conflicted} works at the referring physician's institution",
            "expert_id" if candidate.board is None else "board_id",
        )
    why = "chosen by staff" + (f": {note}" if note else "")
    taken = _take_back(record, terms, actor=actor, why=why)
    record = taken.record.model_copy(update={"tried_keys": []})
    events = taken.events
    if candidate.board is not None:
        sent = updated(
            record, "sent-to-board", expert=candidate.lead.ref(), reasons=[why], actor=actor
        )
        events += (sent,)
    offered = open_offer(record, candidate, terms, reasons=[why, *candidate.reasons], actor=actor)
    return Transition(offered.record, events + offered.events)


def rematch(record: CaseRecord, terms: OfferTerms, *, actor: Actor) -> Transition:
    """Staff asked for automatic matching again, with everyone eligible once more."""
    require_assignable(record)
    if record.stage == "assigned":
        raise Conflict("already_assigned", "the case is assigned; use /assign to reassign it")
    taken = _take_back(record, terms, actor=actor, why="staff asked to match again")
    after = taken.record.model_copy(update={"tried_keys": []})
    return Transition(after, taken.events, match_next=True)


def accept(
    record: CaseRecord, offer_id: str, terms: OfferTerms, *, expert_id: str
) -> Transition | None:
    """None when this offer is already accepted and still holds the case: a repeated accept
    (a double click, or a retry after a lost answer) succeeds without changing anything."""
    if _already(record, offer_id, expert_id, "accepted") and (
        record.assignment is not None and record.assignment.offer_id == offer_id
    ):
        return None
    offer = _own_open_offer(record, offer_id, expert_id)
    if terms.now >= offer.expires_at:
        raise Conflict("offer_not_open", "the offer expired before it was accepted")
    if record.facts is None or record.service_level is None:
        raise Conflict("case_not_ready", "the case is not ready to be assigned")
    assignment = Assignment(
        assignment_id=offer.assignment_id,
        offer_id=offer.offer_id,
        candidate_key=offer.candidate_key,
        lead=offer.lead,
        team=offer.team,
        board_id=offer.board_id,
        assigned_at=terms.now,
        due_at=record.service_level.due_at,
    )
    accepted = offer.model_copy(update={"status": "accepted", "decided_at": terms.now})
    after = (
        record.with_offer(accepted)
        .model_copy(update={"stage": "assigned", "assignment": assignment, "tried_keys": []})
        .logged(terms.now, "accepted", expert_id=offer.lead.expert_id, board_id=offer.board_id)
    )
    event = ExpertAssigned(
        case_id=record.case_id,
        assignment_id=assignment.assignment_id,
        lead=assignment.lead,
        team=assignment.team,
        board_id=assignment.board_id,
        urgency=record.facts.urgency,
        assigned_at=assignment.assigned_at,
        due_at=assignment.due_at,
    )
    return Transition(after, (event,))


def decline(
    record: CaseRecord, offer_id: str, terms: OfferTerms, *, expert_id: str, reason: str
) -> Transition | None:
    """None when this expert already declined this offer (a repeated decline)."""
    if _already(record, offer_id, expert_id, "declined"):
        return None
    offer = _own_open_offer(record, offer_id, expert_id)
    return _close_offer(record, offer, terms, "declined", f"declined: {reason}", reason)


def expire(record: CaseRecord, offer_id: str, terms: OfferTerms) -> Transition | None:
    """Time out the offer if it is open and past its expiry; None when there is nothing to do."""
    offer = record.find_offer(offer_id)
    if offer is None or offer.status != "open" or terms.now < offer.expires_at:
        return None
    return _close_offer(record, offer, terms, "expired", "no answer before the offer expired")


def withdraw_open_offer(record: CaseRecord, terms: OfferTerms) -> CaseRecord:
    """Withdraw the open offer, if any, without an event (the case closed or is re-matched)."""
    offer = record.open_offer
    if offer is None:
        return record
    withdrawn = offer.model_copy(update={"status": "withdrawn", "decided_at": terms.now})
    return record.with_offer(withdrawn).logged(
        terms.now, "offer-withdrawn", expert_id=offer.lead.expert_id, board_id=offer.board_id
    )


def _close_offer(
    record: CaseRecord,
    offer: Offer,
    terms: OfferTerms,
    status: Literal["declined", "expired"],
    why: str,
    decline_reason: str | None = None,
) -> Transition:
    change: AssignmentChange = "declined" if status == "declined" else "offer-expired"
    closed = offer.model_copy(
        update={"status": status, "decided_at": terms.now, "decline_reason": decline_reason}
    )
    after = (
        record.with_offer(closed)
        .model_copy(
            update={"stage": "unassigned", "tried_keys": [*record.tried_keys, offer.candidate_key]}
        )
        .logged(terms.now, change, expert_id=offer.lead.expert_id, reasons=[why])
    )
    event = updated(after, change, expert=offer.lead, reasons=[why])
    return Transition(after, (event,), match_next=True)


def _take_back(record: CaseRecord, terms: OfferTerms, *, actor: Actor, why: str) -> Transition:
    """Free the case from its assignee or open offer; a new assignment round starts."""
    holder = record.assignment.lead if record.assignment else None
    if record.open_offer is not None:
        holder = record.open_offer.lead
    after = withdraw_open_offer(record, terms).model_copy(
        update={"assignment": None, "assignment_id": terms.new_id()}
    )
    if holder is None:
        return Transition(after)
    reasons = [f"reassigned: {why}"]
    after = after.logged(terms.now, "reassigned", expert_id=holder.expert_id, actor=actor)
    return Transition(
        after, (updated(after, "reassigned", expert=holder, reasons=reasons, actor=actor),)
    )


def _already(record: CaseRecord, offer_id: str, expert_id: str, status: OfferStatus) -> bool:
    offer = record.find_offer(offer_id)
    return offer is not None and offer.lead.expert_id == expert_id and offer.status == status


def _own_open_offer(record: CaseRecord, offer_id: str, expert_id: str) -> Offer:
    offer = record.find_offer(offer_id)
    # Someone else's offer is reported as missing: its id must not reveal that the case exists.
    if offer is None or offer.lead.expert_id != expert_id:
        raise NotFound("offer_not_found", f"no offer {offer_id} for you", "offer_id")
    if offer.status != "open" or record.stage != "offered":
        raise Conflict("offer_not_open", f"the offer is {offer.status}, not open", "offer_id")
    return offer


def require_assignable(record: CaseRecord) -> None:
    if record.stage in CLOSED_STAGES:
        raise Conflict("case_closed", f"the case is {record.stage}", "case_id")
    if record.stage == "waiting" or record.facts is None or record.service_level is None:
        raise Conflict(
            "case_not_ready", "the case needs case.submitted and records.ready first", "case_id"
        )
