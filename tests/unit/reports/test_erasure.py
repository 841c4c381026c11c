"""`case.erased` at reports, with fakes: the signed report's files and its document go; another
case's stay; a redelivery is harmless."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.reports import handlers
from services.reports.domain import Sections
from services.reports.handlers import ReportsContext
from services.reports.pdf import PdfRenderer
from services.reports.rendering import Letterhead
from shared.contracts import CaseErased
from shared.contracts.common import Actor
from shared.objectstore import InMemoryObjectStore
from tests.unit.reports import factories
from tests.unit.reports.fakes import FakeReports
from tests.unit.reports.test_handlers import ANA, delivery, open_case


async def signed_case(ctx: ReportsContext, case_id: str) -> None:
    await open_case(ctx, case_id)
    record = await ctx.store.get(case_id)
    assert record is not None
    sections = Sections.model_validate(factories.complete_sections(record))
    await handlers.save_draft(
        ctx,
        principal=ANA,
        case_id=case_id,
        expected_revision=1,
        changes=dict(sections),
        change_summary=None,
    )
    await handlers.sign_report(ctx, principal=ANA, case_id=case_id, expected_revision=2)


async def test_an_erased_case_leaves_no_report_and_no_file() -> None:
    ticks = iter(range(1000))
    store, objects = FakeReports(), InMemoryObjectStore("reports")
    ctx = ReportsContext(
        store=store,
        objects=objects,
        renderer=PdfRenderer(kind="thread", workers=1),
        letterhead=Letterhead("Program", "Hospital"),
        clock=lambda: factories.NOW + timedelta(seconds=next(ticks)),
    )
    await signed_case(ctx, "case-0001")
    await signed_case(ctx, "case-0002")
    assert len(objects.objects) == 4

    erased = CaseErased(
        case_id="case-0001",
        erased_at=datetime(2026, 12, 4, tzinfo=UTC),
        reason="family-request",
        actor=Actor(subject="staff-1", role="intake-staff"),
    )
    handle = handlers.consumer_handlers(ctx)["case.erased"]
    await handle(delivery(erased))
    await handle(delivery(erased))  # redelivered: nothing left to delete, no error

    assert await store.get("case-0001") is None
    assert not [k for k in objects.objects if k.startswith("case-0001/")]
    assert await store.get("case-0002") is not None
    assert len(objects.objects) == 2
