"""Reads for the API: cases for staff, offers for staff and for the expert they are for."""

from __future__ import annotations

from services.assignment.domain.cases import OfferStatus, Stage
from services.assignment.domain.errors import NotFound
from services.assignment.handlers import AssignmentContext
from services.assignment.views import CaseDetail, CaseView, OfferView


async def list_cases(*, ctx: AssignmentContext, stages: list[Stage], limit: int) -> list[CaseView]:
    now = ctx.clock()
    return [CaseView.of(r, now) for r in await ctx.store.list_cases(stages=stages, limit=limit)]


async def get_case(*, ctx: AssignmentContext, case_id: str) -> CaseDetail:
    record = await ctx.store.get_case(case_id)
    if record is None:
        raise NotFound("case_not_found", f"no case {case_id} is known here", "case_id")
    return CaseDetail.of(record, ctx.clock())


async def list_offers(
    *,
    ctx: AssignmentContext,
    expert_id: str | None,
    status: OfferStatus | None,
    limit: int,
) -> list[OfferView]:
    """Offers newest first; `expert_id` narrows to the offers whose lead is that expert."""
    # Only cases in stage "offered" have an open offer.
    stages: list[Stage] = ["offered"] if status == "open" else []
    records = await ctx.store.cases_by_newest_offer(expert_id=expert_id, stages=stages, limit=limit)
    views = [
        OfferView.of(record, offer)
        for record in records
        for offer in record.offers
        if (expert_id is None or offer.lead.expert_id == expert_id)
        and (status is None or offer.status == status)
    ]
    views.sort(key=lambda v: (v.offered_at, v.offer_id), reverse=True)
    return views[:limit]


async def case_of_offer(*, ctx: AssignmentContext, offer_id: str) -> str | None:
    """The case an offer was made for (None: no such offer)."""
    return await ctx.store.case_id_for_offer(offer_id)


async def get_offer(
    *, ctx: AssignmentContext, case_id: str | None, offer_id: str, expert_id: str | None
) -> OfferView:
    """One offer of case `case_id`; with `expert_id`, someone else's offer is reported missing."""
    record = await ctx.store.get_case(case_id) if case_id else None
    offer = record.find_offer(offer_id) if record else None
    if record is None or offer is None or expert_id not in (None, offer.lead.expert_id):
        raise NotFound("offer_not_found", f"offer_id: no offer {offer_id} for you", "offer_id")
    return OfferView.of(record, offer)
