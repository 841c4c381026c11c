"""Reads for the API: the family's status page, and the intake team's list and detail."""

from __future__ import annotations

from services.intake import access, progress
from services.intake.domain import CaseFilter, CaseRecord
from services.intake.handlers import IntakeContext, records_links
from services.intake.views import CaseDetail, CaseStatusView, CaseSummary, ConsultView
from shared.auth import Principal


async def load_case(
    *, ctx: IntakeContext, principal: Principal, action: access.Action, case_id: str
) -> CaseRecord:
    """The case, if it exists and this caller may do `action` on it."""
    access.check_case_scope(principal, action, case_id)
    return access.check_case(principal, action, await ctx.store.get_case(case_id), case_id)


async def case_status(*, ctx: IntakeContext, principal: Principal, case_id: str) -> CaseStatusView:
    record = await load_case(ctx=ctx, principal=principal, action="read-status", case_id=case_id)
    found = progress.derive(record.submitted_at, await ctx.store.milestones_of(case_id))
    return CaseStatusView.of(record, found, records_links(ctx, case_id))


async def case_detail(*, ctx: IntakeContext, principal: Principal, case_id: str) -> CaseDetail:
    record = await load_case(ctx=ctx, principal=principal, action="read-cases", case_id=case_id)
    found = progress.derive(record.submitted_at, await ctx.store.milestones_of(case_id))
    today = ctx.clock().date()
    return CaseDetail.full(record, found, records_links(ctx, case_id), today)


async def list_cases(
    *, ctx: IntakeContext, principal: Principal, case_filter: CaseFilter, limit: int, offset: int
) -> list[CaseSummary]:
    access.check_role(principal, "read-cases")
    today = ctx.clock().date()
    records = await ctx.store.list_cases(case_filter, today=today, limit=limit, offset=offset)
    milestones = await ctx.store.milestones_of_cases([r.case_id for r in records])
    return [
        CaseSummary.of(r, today, progress.derive(r.submitted_at, milestones.get(r.case_id, [])))
        for r in records
    ]


async def report_issued(*, ctx: IntakeContext, case_id: str) -> bool:
    """Whether a report of the case was issued (a consult is about the report)."""
    milestones = await ctx.store.milestones_of(case_id)
    return any(m.event_type == "report.issued" for m in milestones)


async def consults_of(
    *, ctx: IntakeContext, principal: Principal, case_id: str
) -> list[ConsultView]:
    record = await load_case(ctx=ctx, principal=principal, action="read-consults", case_id=case_id)
    return [ConsultView.of(c) for c in record.consults]
