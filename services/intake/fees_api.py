"""HTTP routes of fees and financial clearance (fees.py): the estimate a family sees before
submitting (public: prices, no case), and the clearance the intake team or the hospital's
billing system marks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.intake import fees, handlers
from services.intake.deps import Caller, Context
from services.intake.fees import Clearance
from services.intake.views import ClearanceRequest, FeeEstimateView
from shared.contracts.financial_clearance_updated import ServiceType

fees_router = APIRouter(tags=["fees"])
Currency = Annotated[str | None, Query(pattern=r"^[A-Z]{3}$", description="ISO 4217")]


@fees_router.get("/fees/estimate")
async def fee_estimate(
    ctx: Context, service: ServiceType = fees.DEFAULT_SERVICE, currency: Currency = None
) -> FeeEstimateView:
    """What the program expects to charge for a service, before anyone submits (no payment is
    taken here); in the program's currency unless another is asked for."""
    found = fees.estimate(ctx.fee_schedule, service, currency or ctx.settings.currency)
    return FeeEstimateView(
        **found.model_dump(),
        note=fees.ESTIMATE_NOTE,
        clearance_required=ctx.settings.financial_clearance_required,
    )


@fees_router.post("/cases/{case_id}/financial-clearance", tags=["intake team"])
async def clear_finances(
    case_id: str, body: ClearanceRequest, caller: Caller, ctx: Context
) -> Clearance:
    """Clear the case for review: self-pay or insurance pre-authorisation (with the billing
    office's or insurer's reference), or waived. Never a card number. Intake staff, or the
    hospital's billing system (a hospital-system token) for its own organization's cases."""
    mark = fees.ClearanceMark(
        method=body.method, reference=body.reference, payer=body.payer, note=body.note
    )
    record = await handlers.clear_finances(ctx=ctx, principal=caller, case_id=case_id, mark=mark)
    assert record.clearance is not None  # mark_cleared refuses a case without one
    return record.clearance
