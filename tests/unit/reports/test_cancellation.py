"""A cancelled or withdrawn case (issue 14): its report takes no more drafts, signatures,
amendments or follow-ups; what was issued before stays readable; `case.updated` is applied
once, and a cancellation that arrives before the case itself still holds."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from services.reports import handlers, lifecycle
from services.reports.domain import Conflict, FollowUpPolicy, NotFound, ReportRecord
from services.reports.handlers import ReportsContext
from services.reports.i18n import LANGUAGES
from services.reports.pdf import PdfRenderer
from services.reports.rendering import Letterhead
from services.reports.views import DraftView, ReportSummary, ReportView
from shared.auth import Principal
from shared.contracts import CaseUpdated
from shared.contracts.common import Actor
from shared.objectstore import InMemoryObjectStore, ObjectInfo
from tests.unit.reports import factories
from tests.unit.reports.fakes import FakeReports
from tests.unit.reports.test_handlers import delivery, open_case
from tests.unit.reports.test_lifecycle import signed, stored, written

ANA = Principal(subject="ana", role="expert", token_id="t")
FAMILY = Principal(subject="g-1", role="guardian", token_id="t", case_ids=frozenset({"case-0001"}))
CANCELLED_AT = factories.NOW + timedelta(days=2)
SENTENCE = "the case was cancelled or withdrawn; the report can no longer be changed"


def cancelled(record: ReportRecord, role: str = "guardian") -> ReportRecord:
    after, _ = lifecycle.case_cancelled(record, at=CANCELLED_AT, by_role=role)
    return after


def case_updated(
    case_id: str = "case-0001", change: str = "cancelled", status: str = "cancelled"
) -> CaseUpdated:
    return CaseUpdated.model_validate(
        {
            "case_id": case_id,
            "change": change,
            "status": status,
            "specialty": "neuro-oncology",
            "actor": Actor(subject="g-1", role="guardian"),
            "reason": "withdrawn by the family: we found care closer to home",
        }
    )


def assert_refused(refusal: pytest.ExceptionInfo[Conflict]) -> None:
    assert refusal.value.status == 409
    assert refusal.value.code == "case_cancelled"
    assert refusal.value.message == SENTENCE


# The lifecycle.


def test_a_cancellation_is_recorded_by_role_only_and_the_first_one_counts() -> None:
    record = cancelled(written(factories.opened()))
    assert record.cancelled and record.cancelled_at == CANCELLED_AT
    assert record.cancelled_by_role == "guardian"
    assert record.status == "draft"  # where the writing stopped; `cancelled` says why
    later, _ = lifecycle.case_cancelled(
        record, at=CANCELLED_AT + timedelta(hours=1), by_role="intake-staff"
    )
    assert (later.cancelled_at, later.cancelled_by_role) == (CANCELLED_AT, "guardian")
    assert "reason" not in record.model_dump()  # no free text: the family's words stay in intake


def test_a_cancelled_draft_refuses_autosave() -> None:
    record = cancelled(factories.opened())
    with pytest.raises(Conflict) as refusal:
        lifecycle.save_draft(
            record,
            expert_id="ana",
            expected_revision=1,
            changes={"summary": "more"},
            change_summary=None,
            now=CANCELLED_AT,
        )
    assert_refused(refusal)


def test_a_stranger_still_gets_not_found_rather_than_learning_of_the_cancellation() -> None:
    record = cancelled(factories.opened())
    with pytest.raises(NotFound):
        lifecycle.save_draft(
            record,
            expert_id="mallory",
            expected_revision=1,
            changes={},
            change_summary=None,
            now=CANCELLED_AT,
        )


def test_a_cancelled_draft_refuses_signing_even_when_complete() -> None:
    record = cancelled(written(factories.opened()))
    with pytest.raises(Conflict) as refusal:
        lifecycle.plan_signing(record, expert_id="ana", expected_revision=None, languages=LANGUAGES)
    assert_refused(refusal)


def test_a_cancellation_between_planning_and_issuing_stops_the_signature() -> None:
    record = written(factories.opened())
    plan = lifecycle.plan_signing(
        record, expert_id="ana", expected_revision=None, languages=LANGUAGES
    )
    with pytest.raises(Conflict) as refusal:
        lifecycle.issue(
            cancelled(record), plan, html=stored("h"), pdf=stored("p"), issued_at=CANCELLED_AT
        )
    assert_refused(refusal)


def test_an_issued_report_stays_issued_but_takes_no_amendment_or_follow_up() -> None:
    issued, _ = signed(written(factories.opened()))
    asked, _ = lifecycle.ask_follow_up(
        issued,
        follow_up_id="fu-1",
        role="guardian",
        question="Proton?",
        now=factories.NOW,
        policy=FollowUpPolicy(),
    )
    record, closing = lifecycle.case_cancelled(asked, at=CANCELLED_AT, by_role="guardian")
    assert record.status == "issued" and len(record.versions) == 1
    # The open question is closed with the case, and said so, so no one waits on it.
    (closed,) = closing
    assert (closed.change, closed.close_reason, closed.open_questions) == (
        "closed",
        "case-cancelled",
        0,
    )
    assert record.follow_ups[0].close_reason == "case-cancelled"
    with pytest.raises(Conflict) as amendment:
        lifecycle.open_amendment(record, expert_id="ana", now=CANCELLED_AT)
    assert_refused(amendment)
    with pytest.raises(Conflict) as question:
        lifecycle.ask_follow_up(
            record,
            follow_up_id="fu-2",
            role="guardian",
            question="And?",
            now=CANCELLED_AT,
            policy=FollowUpPolicy(),
        )
    assert_refused(question)
    with pytest.raises(Conflict) as answer:
        lifecycle.answer_follow_up(
            record, expert_id="ana", follow_up_id="fu-1", answer="Yes.", now=CANCELLED_AT
        )
    assert_refused(answer)


def test_a_cancellation_before_the_case_arrives_sticks() -> None:
    record = cancelled(ReportRecord(case_id="case-0001"), role="intake-staff")
    record = lifecycle.case_submitted(record, factories.case_submitted(), factories.NOW)
    record = lifecycle.records_ready(record, factories.records_ready())
    record = lifecycle.expert_assigned(record, factories.expert_assigned(), factories.NOW)
    assert record.cancelled and record.cancelled_by_role == "intake-staff"
    assert record.draft is not None  # the assignment still opens it, read-only
    with pytest.raises(Conflict) as refusal:
        written(record)
    assert_refused(refusal)


# What the API shows.


def test_the_listing_the_draft_and_the_report_say_the_case_was_cancelled() -> None:
    record = cancelled(factories.opened())
    summary = ReportSummary.of(record)
    assert summary.cancelled and summary.cancelled_at == CANCELLED_AT
    assert summary.status == "draft"
    draft = DraftView.of(record, "http://records.test")
    assert draft.cancelled and draft.cancelled_at == CANCELLED_AT
    issued, _ = signed(written(factories.opened()))
    assert ReportView.of(cancelled(issued)).cancelled
    assert not ReportSummary.of(factories.opened()).cancelled


# The consumer.


@pytest.fixture
def ctx() -> ReportsContext:
    ticks = iter(range(1000))
    return ReportsContext(
        store=FakeReports(),
        objects=InMemoryObjectStore("reports"),
        renderer=PdfRenderer(kind="thread", workers=1),
        letterhead=Letterhead("Program", "Hospital"),
        clock=lambda: factories.NOW + timedelta(seconds=next(ticks)),
    )


def fake(ctx: ReportsContext) -> FakeReports:
    assert isinstance(ctx.store, FakeReports)
    return ctx.store


async def test_case_updated_cancelled_is_applied_once(ctx: ReportsContext) -> None:
    await open_case(ctx)
    handle = handlers.consumer_handlers(ctx)
    cancel = delivery(case_updated())
    await handle["case.updated"](cancel)
    record = await ctx.store.get("case-0001")
    assert record is not None and record.cancelled
    assert record.cancelled_at == cancel.event.time and record.cancelled_by_role == "guardian"
    saves = fake(ctx).saves
    await handle["case.updated"](cancel)  # redelivered
    assert fake(ctx).saves == saves
    assert fake(ctx).outbox == []


@pytest.mark.parametrize(
    ("change", "status"),
    [("put-on-hold", "on-hold"), ("resumed", "open"), ("triaged", "open"), ("note-added", "open")],
)
async def test_other_case_changes_write_nothing(
    ctx: ReportsContext, change: str, status: str
) -> None:
    await open_case(ctx)
    saves = fake(ctx).saves
    await handlers.consumer_handlers(ctx)["case.updated"](
        delivery(case_updated(change=change, status=status))
    )
    assert fake(ctx).saves == saves
    record = await ctx.store.get("case-0001")
    assert record is not None and not record.cancelled


async def test_a_cancellation_before_case_submitted_sticks(ctx: ReportsContext) -> None:
    handle = handlers.consumer_handlers(ctx)
    await handle["case.updated"](delivery(case_updated()))
    only = await ctx.store.get("case-0001")
    assert only is not None and only.cancelled and only.facts is None
    await open_case(ctx)
    record = await ctx.store.get("case-0001")
    assert record is not None and record.cancelled and record.draft is not None
    with pytest.raises(Conflict) as refusal:
        await handlers.save_draft(
            ctx,
            principal=ANA,
            case_id="case-0001",
            expected_revision=1,
            changes={"summary": "too late"},
            change_summary=None,
        )
    assert_refused(refusal)


async def test_signing_a_cancelled_report_stores_nothing_and_issues_nothing(
    ctx: ReportsContext,
) -> None:
    await open_case(ctx)
    record = await ctx.store.get("case-0001")
    assert record is not None
    fake(ctx).latest["case-0001"] = cancelled(written(record))
    with pytest.raises(Conflict) as refusal:
        await handlers.sign_report(ctx, principal=ANA, case_id="case-0001", expected_revision=None)
    assert_refused(refusal)
    objects = ctx.objects
    assert isinstance(objects, InMemoryObjectStore)
    assert fake(ctx).outbox == [] and objects.objects == {}


class CancelledWhileStoring(InMemoryObjectStore):
    """Stores like the fake, and lets the case be cancelled while the files are written."""

    def __init__(self, on_put: list[Callable[[], Awaitable[None]]]) -> None:
        super().__init__("reports")
        self.on_put = on_put

    async def put_file(
        self, key: str, path: Path, content_type: str, *, background: bool = False
    ) -> ObjectInfo:
        info = await super().put_file(key, path, content_type, background=background)
        while self.on_put:
            await self.on_put.pop()()
        return info


async def test_a_cancellation_while_the_pdf_is_made_stops_the_signature(
    ctx: ReportsContext,
) -> None:
    hooks: list[Callable[[], Awaitable[None]]] = []
    ctx.objects = CancelledWhileStoring(hooks)
    await open_case(ctx)
    record = await ctx.store.get("case-0001")
    assert record is not None
    fake(ctx).latest["case-0001"] = written(record)

    async def cancel() -> None:
        await handlers.consumer_handlers(ctx)["case.updated"](delivery(case_updated()))

    hooks.append(cancel)
    with pytest.raises(Conflict) as refusal:
        await handlers.sign_report(ctx, principal=ANA, case_id="case-0001", expected_revision=None)
    assert_refused(refusal)
    assert fake(ctx).outbox == [] and ctx.objects.objects == {}
    after = await ctx.store.get("case-0001")
    assert after is not None and after.cancelled and not after.versions


async def test_a_family_still_reads_an_issued_report_after_withdrawing(
    ctx: ReportsContext,
) -> None:
    await open_case(ctx)
    record = await ctx.store.get("case-0001")
    assert record is not None
    issued, _ = signed(written(record))
    fake(ctx).latest["case-0001"] = issued
    await handlers.consumer_handlers(ctx)["case.updated"](delivery(case_updated()))
    read = await handlers.load_report(ctx, FAMILY, "read-issued", "case-0001")
    assert read.cancelled and [v.version for v in read.versions] == [1]
    with pytest.raises(Conflict) as refusal:
        await handlers.ask_follow_up(ctx, principal=FAMILY, case_id="case-0001", question="?")
    assert_refused(refusal)
