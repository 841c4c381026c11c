"""HTTP routes of the assignment service: parse, authorize, call a handler."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse

from services.assignment import handlers, queries
from services.assignment.deps import CaseTeam, Context, ExpertCaller, ExpertOrStaff
from services.assignment.domain.cases import CaseRecord, OfferStatus, Stage
from services.assignment.domain.errors import AssignmentError, Conflict, NotFound
from services.assignment.handlers import AssignmentContext
from services.assignment.roster_api import roster_router
from services.assignment.views import (
    AssignRequest,
    BoardRequest,
    CaseDetail,
    CaseView,
    DeclineRequest,
    OfferView,
)
from shared.audit import audit_case
from shared.auth import Principal
from shared.consumer import TransientError
from shared.contracts.common import Actor
from shared.errors import error_body
from shared.probes import ReadinessCheck
from shared.webapp import create_service_app

router = APIRouter()
Limit = Annotated[int, Query(ge=1, le=500)]


@router.get("/offers", tags=["offers"])
async def list_offers(
    caller: ExpertOrStaff,
    ctx: Context,
    mine: bool = False,
    status: OfferStatus | None = None,
    expert_id: str | None = None,
    limit: Limit = 100,
) -> list[OfferView]:
    """Offers, newest first: an expert always gets only their own; staff may narrow by expert."""
    if caller.role == "expert" or mine:
        expert_id = caller.subject
    return await queries.list_offers(ctx=ctx, expert_id=expert_id, status=status, limit=limit)


@router.get("/offers/{offer_id}", tags=["offers"])
async def get_offer(
    offer_id: str, request: Request, caller: ExpertOrStaff, ctx: Context
) -> OfferView:
    """One offer; another expert's offer answers 404, as if it did not exist."""
    case_id = await _case_of_offer(request, ctx, offer_id)
    expert_id = caller.subject if caller.role == "expert" else None
    return await queries.get_offer(ctx=ctx, case_id=case_id, offer_id=offer_id, expert_id=expert_id)


@router.post("/offers/{offer_id}/accept", tags=["offers"])
async def accept_offer(
    offer_id: str, request: Request, caller: ExpertCaller, ctx: Context
) -> OfferView:
    """Take the case (a board lead takes it for the whole board); 409 if no longer open.
    Accepting an offer you already accepted answers as the first time did (a safe retry)."""
    case_id = await _case_of_offer(request, ctx, offer_id)
    record = await handlers.accept_offer(
        ctx=ctx, case_id=case_id, offer_id=offer_id, expert_id=caller.subject
    )
    return _offer_view(record, offer_id)


@router.post("/offers/{offer_id}/decline", tags=["offers"])
async def decline_offer(
    offer_id: str, body: DeclineRequest, request: Request, caller: ExpertCaller, ctx: Context
) -> OfferView:
    """Say no, with a reason; the case goes to the next best expert. Repeating it is harmless."""
    case_id = await _case_of_offer(request, ctx, offer_id)
    record = await handlers.decline_offer(
        ctx=ctx, case_id=case_id, offer_id=offer_id, expert_id=caller.subject, reason=body.reason
    )
    return _offer_view(record, offer_id)


async def _case_of_offer(request: Request, ctx: AssignmentContext, offer_id: str) -> str | None:
    """The case an offer is for, named on the request's audit record before anything is
    decided (a refused caller's attempt is the case's too)."""
    case_id = await queries.case_of_offer(ctx=ctx, offer_id=offer_id)
    if case_id is not None:
        audit_case(request, case_id)
    return case_id


@router.get("/cases", tags=["cases"])
async def list_cases(
    _: CaseTeam,
    ctx: Context,
    stage: Annotated[list[Stage] | None, Query()] = None,
    limit: Limit = 100,
) -> list[CaseView]:
    """Cases with where their assignment stands, why, and their service level."""
    return await queries.list_cases(ctx=ctx, stages=stage or [], limit=limit)


@router.get("/cases/{case_id}", tags=["cases"])
async def get_case(case_id: str, _: CaseTeam, ctx: Context) -> CaseDetail:
    """One case with every offer made and the assignment history."""
    return await queries.get_case(ctx=ctx, case_id=case_id)


@router.post("/cases/{case_id}/assign", tags=["cases"])
async def assign_case(
    case_id: str, body: AssignRequest, caller: CaseTeam, ctx: Context
) -> CaseDetail:
    """Offer the case to the expert staff chose, taking it from whoever has it now."""
    record = await handlers.assign_by_hand(
        ctx=ctx, case_id=case_id, actor=_actor(caller), expert_id=body.expert_id, note=body.note
    )
    return CaseDetail.of(record, ctx.clock())


@router.post("/cases/{case_id}/board", tags=["cases"])
async def send_to_board(
    case_id: str, body: BoardRequest, caller: CaseTeam, ctx: Context
) -> CaseDetail:
    """Send the case to a board: its lead gets the offer, and accepting assigns the whole team."""
    record = await handlers.assign_by_hand(
        ctx=ctx, case_id=case_id, actor=_actor(caller), board_id=body.board_id, note=body.note
    )
    return CaseDetail.of(record, ctx.clock())


@router.post("/cases/{case_id}/rematch", tags=["cases"])
async def rematch_case(case_id: str, caller: CaseTeam, ctx: Context) -> CaseDetail:
    """Run matching again with everyone eligible (after a roster change, say)."""
    record = await handlers.rematch_case(ctx=ctx, case_id=case_id, actor=_actor(caller))
    return CaseDetail.of(record, ctx.clock())


def create_app(
    *,
    ctx: AssignmentContext,
    authenticate: Callable[[Request], Principal],
    readiness: dict[str, ReadinessCheck],
) -> FastAPI:
    app = create_service_app(
        title="assignment service",
        description="Assignment: the expert roster, matching, offers and expert.assigned.",
        readiness=readiness,
    )
    app.state.assignment = ctx
    app.state.authenticate = authenticate
    app.include_router(router)
    app.include_router(roster_router)

    @app.exception_handler(AssignmentError)
    async def _refused(_: Request, exc: AssignmentError) -> JSONResponse:
        status = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 422
        extra = {"field": exc.field} if exc.field else {}
        return JSONResponse(error_body(exc.code, exc.message, **extra), status_code=status)

    @app.exception_handler(TransientError)
    async def _busy(_: Request, exc: TransientError) -> JSONResponse:
        body = error_body("busy", "the case changed while we were saving; try again")
        return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})

    return app


def _actor(principal: Principal) -> Actor:
    return Actor(subject=principal.subject, role=principal.role)


def _offer_view(record: CaseRecord, offer_id: str) -> OfferView:
    offer = record.find_offer(offer_id)
    assert offer is not None  # the handler just changed it
    return OfferView.of(record, offer)
