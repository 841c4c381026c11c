"""HTTP routes of erasure (erasure.py): the guardian asks with the case link, the intake team
approves or refuses. An admin sees no clinical content and decides nothing here."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, ConfigDict

from services.intake import erasure_handlers, queries
from services.intake.deps import Caller, Context, Staff
from services.intake.domain import CaseRecord, RefusalReason
from services.intake.views import CaseDetail
from shared.contracts.case_erased import ErasureReason

erasure_router = APIRouter()
ERASURE = "/cases/{case_id}/erasure"


class ErasureAsk(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: ErasureReason = "family-request"


class ErasureRefusal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: RefusalReason


class ErasureView(BaseModel):
    """Where the case's erasure request stands (codes and times only)."""

    case_id: str
    state: str
    reason: ErasureReason | None = None
    requested_at: AwareDatetime | None = None
    decided_at: AwareDatetime | None = None
    refusal: RefusalReason | None = None

    @classmethod
    def of(cls, record: CaseRecord) -> ErasureView:
        asked = record.erasure
        if asked is None:
            return cls(case_id=record.case_id, state="none")
        return cls(
            case_id=record.case_id,
            state=asked.state,
            reason=asked.reason,
            requested_at=asked.requested_at,
            decided_at=asked.decided_at,
            refusal=asked.refusal,
        )


@erasure_router.get(ERASURE, tags=["family", "intake team"])
async def erasure_state(case_id: str, caller: Caller, ctx: Context) -> ErasureView:
    """Whether erasure was asked for, and what the intake team decided."""
    record = await queries.load_case(
        ctx=ctx, principal=caller, action="read-status", case_id=case_id
    )
    return ErasureView.of(record)


@erasure_router.post(ERASURE, status_code=202, tags=["family"])
async def request_erasure(
    case_id: str, caller: Caller, ctx: Context, body: ErasureAsk | None = None
) -> ErasureView:
    """Ask, as the child's parent or guardian, that the child's personal data be erased
    everywhere; the intake team approves or refuses."""
    reason = body.reason if body else "family-request"
    record = await erasure_handlers.request_erasure(
        ctx=ctx, principal=caller, case_id=case_id, reason=reason
    )
    return ErasureView.of(record)


@erasure_router.post(ERASURE + "/approve", tags=["intake team"])
async def approve_erasure(case_id: str, caller: Staff, ctx: Context) -> CaseDetail:
    """Approve the waiting request: the case is cancelled if still in progress, its personal
    data erased here, and `case.erased` tells every service to erase theirs."""
    await erasure_handlers.approve_erasure(ctx=ctx, principal=caller, case_id=case_id)
    return await queries.case_detail(ctx=ctx, principal=caller, case_id=case_id)


@erasure_router.post(ERASURE + "/refuse", tags=["intake team"])
async def refuse_erasure(
    case_id: str, body: ErasureRefusal, caller: Staff, ctx: Context
) -> CaseDetail:
    """Refuse the waiting request with a reason code (e.g. a legal hold)."""
    await erasure_handlers.refuse_erasure(
        ctx=ctx, principal=caller, case_id=case_id, refusal=body.reason
    )
    return await queries.case_detail(ctx=ctx, principal=caller, case_id=case_id)
