"""HTTP routes of consults after the report (consults.py): parse, authorize, call a handler.

The family or the referring physician asks and chooses a time with their case link; the intake
team proposes and reschedules; either side cancels. Each answers the consult as it now stands.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter

from services.intake import access, consults, handlers, queries
from services.intake.consults import ConsultAsk, Proposal
from services.intake.deps import Caller, Context, Staff
from services.intake.domain import CaseRecord, Transition
from services.intake.handlers import IntakeContext
from services.intake.views import (
    ConsultCancel,
    ConsultConfirm,
    ConsultCreate,
    ConsultProposal,
    ConsultView,
)
from shared.auth import Principal
from shared.contracts.common import Actor

consult_router = APIRouter(tags=["consults"])
CONSULTS = "/cases/{case_id}/consults"
ONE = CONSULTS + "/{consult_id}"


@consult_router.get(CONSULTS)
async def list_consults(case_id: str, caller: Caller, ctx: Context) -> list[ConsultView]:
    """The case's consults with the expert, oldest first (the case's link, or intake staff)."""
    return await queries.consults_of(ctx=ctx, principal=caller, case_id=case_id)


@consult_router.post(CONSULTS, status_code=201)
async def request_consult(
    case_id: str, body: ConsultCreate, caller: Caller, ctx: Context
) -> ConsultView:
    """Ask for a video or in-person consult with the expert about the issued report."""
    access.check_case_scope(caller, "request-consult", case_id)
    issued = await queries.report_issued(ctx=ctx, case_id=case_id)
    consult_id = ctx.new_id()
    ask = ConsultAsk(
        kind=body.kind,
        attendees=body.attendees,
        preferred_times=body.preferred_times,
        interpreter_needed=body.interpreter_needed,
        interpreter_language=body.interpreter_language,
        time_zone=body.time_zone,
    )

    def decide(record: CaseRecord, actor: Actor, at: datetime) -> Transition:
        step = consults.request(
            record, consult_id=consult_id, ask=ask, actor=actor, report_issued=issued, at=at
        )
        return Transition(step.record, step.event)

    return await _changed(ctx, caller, case_id, consult_id, decide, "request-consult")


@consult_router.post(ONE + "/propose")
async def propose_times(
    case_id: str, consult_id: str, body: ConsultProposal, caller: Staff, ctx: Context
) -> ConsultView:
    """Offer one to five times with an expert (and, for video, the meeting's https link)."""
    proposal = _proposal(body)

    def decide(record: CaseRecord, actor: Actor, at: datetime) -> Transition:
        step = consults.propose(record, consult_id, proposal, actor=actor, at=at)
        return Transition(step.record, step.event)

    return await _changed(ctx, caller, case_id, consult_id, decide, "schedule-consult")


@consult_router.post(ONE + "/reschedule")
async def reschedule(
    case_id: str, consult_id: str, body: ConsultProposal, caller: Staff, ctx: Context
) -> ConsultView:
    """Offer new times for a proposed or confirmed consult; the requester chooses again."""
    proposal = _proposal(body)

    def decide(record: CaseRecord, actor: Actor, at: datetime) -> Transition:
        step = consults.reschedule(record, consult_id, proposal, actor=actor, at=at)
        return Transition(step.record, step.event)

    return await _changed(ctx, caller, case_id, consult_id, decide, "schedule-consult")


@consult_router.post(ONE + "/confirm")
async def confirm(
    case_id: str, consult_id: str, body: ConsultConfirm, caller: Caller, ctx: Context
) -> ConsultView:
    """Choose one of the times offered (the case's link); everyone gets a calendar invitation."""

    def decide(record: CaseRecord, actor: Actor, at: datetime) -> Transition:
        step = consults.confirm(record, consult_id, body.start, actor=actor, at=at)
        return Transition(step.record, step.event)

    return await _changed(ctx, caller, case_id, consult_id, decide, "confirm-consult")


@consult_router.post(ONE + "/cancel")
async def cancel(
    case_id: str, consult_id: str, body: ConsultCancel, caller: Caller, ctx: Context
) -> ConsultView:
    """Call the consult off with a reason code (the case's link, or intake staff)."""

    def decide(record: CaseRecord, actor: Actor, at: datetime) -> Transition:
        step = consults.cancel(record, consult_id, body.reason, actor=actor, at=at)
        return Transition(step.record, step.event)

    return await _changed(ctx, caller, case_id, consult_id, decide, "cancel-consult")


def _proposal(body: ConsultProposal) -> Proposal:
    return Proposal(
        slots=tuple(body.slots),
        expert_id=body.expert_id,
        expert_time_zone=body.expert_time_zone,
        meeting_url=body.meeting_url,
    )


async def _changed(
    ctx: IntakeContext,
    caller: Principal,
    case_id: str,
    consult_id: str,
    decide: handlers.Decide,
    action: access.Action,
) -> ConsultView:
    record = await handlers.change_case(
        ctx=ctx, principal=caller, case_id=case_id, decide=decide, action=action
    )
    (consult,) = [c for c in record.consults if c.consult_id == consult_id]
    return ConsultView.of(consult)
