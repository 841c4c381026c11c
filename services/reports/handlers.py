"""One function per consumed event and per command. Each changes one case's report, with the
events it caused, in one conditional write (`change_report`, the unit of work of
shared/unit_of_work.py)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from services.reports import access, lifecycle
from services.reports.domain import FollowUpPolicy, ReportRecord, language_of
from services.reports.i18n import LANGUAGES
from services.reports.pdf import PdfRenderer
from services.reports.rendering import Letterhead, ReportContent, render_report
from services.reports.store import Reports
from shared.auth import Principal
from shared.consumer import Delivery, Handler
from shared.contracts import (
    AssignmentUpdated,
    CaseErased,
    CaseSubmitted,
    CaseUpdated,
    ExpertAssigned,
    RecordsReady,
    payload_as,
)
from shared.contracts.follow_up_updated import CloseReason
from shared.contracts.report_issued import ReportRendition, StoredObject
from shared.envelope import CloudEvent, Payload, make_event, new_event_id
from shared.objectstore import ObjectStore
from shared.outbox import EventsQueued, no_events_queued
from shared.unit_of_work import Tracking

SOURCE = "/services/reports"
SERVICE = "reports"

Decide = Callable[[ReportRecord], tuple[ReportRecord, list[Payload]] | None]


def _utc_now() -> datetime:
    return datetime.now(UTC)


log = logging.getLogger(__name__)


@dataclass
class ReportsContext:
    """What every handler needs: the store, the bucket, the renderer, a clock, the relay."""

    store: Reports
    objects: ObjectStore
    renderer: PdfRenderer
    letterhead: Letterhead
    records_base_url: str = "http://127.0.0.1:8002"
    clock: Callable[[], datetime] = _utc_now
    new_id: Callable[[], str] = new_event_id
    # Wakes the outbox relay for the report (by case id) that queued events.
    events_queued: EventsQueued = no_events_queued
    languages: tuple[str, ...] = field(default=LANGUAGES)
    follow_ups: FollowUpPolicy = field(default_factory=FollowUpPolicy)


async def change_report(
    ctx: ReportsContext,
    case_id: str,
    decide: Decide,
    *,
    create: bool = False,
    tracking: Tracking | None = None,
) -> ReportRecord:
    """Read the report, decide, and write the result with its events.

    With `create`, an unknown case starts empty (events may arrive in any order)."""

    def decide_record(current: ReportRecord | None) -> tuple[ReportRecord, list[CloudEvent]] | None:
        if current is None and not create:
            raise access.not_found(case_id)
        decided = decide(current or ReportRecord(case_id=case_id))
        if decided is None:
            return None
        after, payloads = decided
        now = ctx.clock()
        return after, [make_event(p, source=SOURCE, subject=case_id, time=now) for p in payloads]

    change = await ctx.store.change(case_id, decide_record, tracking=tracking)
    if change.written and change.events:
        ctx.events_queued(case_id, change.events)
    return change.record or ReportRecord(case_id=case_id)


# Consumed events: the change and the event's id in one write, so a redelivery is a no-op.


async def _consume(
    ctx: ReportsContext,
    delivery: Delivery,
    note: Callable[[ReportRecord], ReportRecord | tuple[ReportRecord, Sequence[Payload]]],
) -> None:
    """Apply a consumed event once (tracked by its id), with any events the change causes."""
    tracking = Tracking(SERVICE, delivery.event.id)

    def decide(record: ReportRecord) -> tuple[ReportRecord, list[Payload]]:
        noted = note(record)
        return (noted[0], list(noted[1])) if isinstance(noted, tuple) else (noted, [])

    await change_report(ctx, delivery.event.subject, decide, create=True, tracking=tracking)


async def on_case_submitted(delivery: Delivery, *, ctx: ReportsContext) -> None:
    case = payload_as(delivery.payload, CaseSubmitted)
    at = delivery.event.time
    await _consume(ctx, delivery, lambda r: lifecycle.case_submitted(r, case, at))


async def on_case_erased(delivery: Delivery, *, ctx: ReportsContext) -> None:
    """The child's personal data is erased: the case's report files (drafts' previews, issued
    HTML and PDF of every version) leave the bucket, then its report document leaves the store
    (the audit trail keeps who wrote, signed and read it). Deleting twice is harmless."""
    case_id = payload_as(delivery.payload, CaseErased).case_id
    objects = await ctx.objects.delete_prefix(f"{case_id}/")
    had_report = await ctx.store.erase(case_id)
    log.info("case erased", extra={"case_id": case_id, "objects": objects, "report": had_report})


async def on_records_ready(delivery: Delivery, *, ctx: ReportsContext) -> None:
    ready = payload_as(delivery.payload, RecordsReady)
    await _consume(ctx, delivery, lambda r: lifecycle.records_ready(r, ready))


async def on_expert_assigned(delivery: Delivery, *, ctx: ReportsContext) -> None:
    assigned = payload_as(delivery.payload, ExpertAssigned)
    at = delivery.event.time
    await _consume(ctx, delivery, lambda r: lifecycle.expert_assigned(r, assigned, at))


async def on_assignment_updated(delivery: Delivery, *, ctx: ReportsContext) -> None:
    """Only a reassignment matters here: the expert it was taken from loses the report."""
    update = payload_as(delivery.payload, AssignmentUpdated)
    if update.change != "reassigned":
        return
    holder = update.expert.expert_id if update.expert else None
    await _consume(ctx, delivery, lambda r: lifecycle.reassigned(r, holder))


async def on_case_updated(delivery: Delivery, *, ctx: ReportsContext) -> None:
    """Only a cancellation (by staff, or the family's withdrawal) matters: the report stops.
    Holds, resumes, triage and notes leave it as it is."""
    update = payload_as(delivery.payload, CaseUpdated)
    if update.status != "cancelled":
        return
    at, role = delivery.event.time, update.actor.role
    await _consume(ctx, delivery, lambda r: lifecycle.case_cancelled(r, at=at, by_role=role))


def consumer_handlers(ctx: ReportsContext) -> dict[str, Handler]:
    return {
        "case.submitted": partial(on_case_submitted, ctx=ctx),
        "case.updated": partial(on_case_updated, ctx=ctx),
        "records.ready": partial(on_records_ready, ctx=ctx),
        "expert.assigned": partial(on_expert_assigned, ctx=ctx),
        "assignment.updated": partial(on_assignment_updated, ctx=ctx),
        "case.erased": partial(on_case_erased, ctx=ctx),
    }


# Commands and queries from experts, families, physicians and staff.


async def load_report(
    ctx: ReportsContext, principal: Principal, action: access.Action, case_id: str
) -> ReportRecord:
    """The report, if it exists and this caller may do `action` with it."""
    access.check_case_scope(principal, action, case_id)
    return access.check_report(principal, action, await ctx.store.get(case_id), case_id)


async def list_reports(ctx: ReportsContext, principal: Principal, limit: int) -> list[ReportRecord]:
    query = access.listing_query(principal)
    return [] if query is None else await ctx.store.list_reports(query, limit)


async def _command(
    ctx: ReportsContext,
    principal: Principal,
    action: access.Action,
    case_id: str,
    change: Callable[[ReportRecord], ReportRecord | tuple[ReportRecord, Payload]],
) -> ReportRecord:
    """One caller's change to a report, with the event it announces (if any)."""
    access.check_case_scope(principal, action, case_id)

    def decide(record: ReportRecord) -> tuple[ReportRecord, list[Payload]]:
        access.check_report(principal, action, record, case_id)
        changed = change(record)
        if isinstance(changed, tuple):
            return changed[0], [changed[1]]
        return changed, []

    return await change_report(ctx, case_id, decide)


async def save_draft(
    ctx: ReportsContext,
    *,
    principal: Principal,
    case_id: str,
    expected_revision: int,
    changes: Mapping[str, Any],
    change_summary: str | None,
) -> ReportRecord:
    """Autosave: refused with 409 when the draft moved on since the caller read it."""
    now = ctx.clock()
    return await _command(
        ctx,
        principal,
        "write-draft",
        case_id,
        lambda r: lifecycle.save_draft(
            r,
            expert_id=principal.subject,
            expected_revision=expected_revision,
            changes=changes,
            change_summary=change_summary,
            now=now,
        ),
    )


async def open_amendment(
    ctx: ReportsContext, *, principal: Principal, case_id: str
) -> ReportRecord:
    now = ctx.clock()
    return await _command(
        ctx,
        principal,
        "write-draft",
        case_id,
        lambda r: lifecycle.open_amendment(r, expert_id=principal.subject, now=now),
    )


async def ask_follow_up(
    ctx: ReportsContext, *, principal: Principal, case_id: str, question: str
) -> ReportRecord:
    now, follow_up_id = ctx.clock(), f"fu-{ctx.new_id()}"
    return await _command(
        ctx,
        principal,
        "ask-follow-up",
        case_id,
        lambda r: lifecycle.ask_follow_up(
            r,
            follow_up_id=follow_up_id,
            role=principal.role,
            question=question,
            now=now,
            policy=ctx.follow_ups,
        ),
    )


async def answer_follow_up(
    ctx: ReportsContext, *, principal: Principal, case_id: str, follow_up_id: str, answer: str
) -> ReportRecord:
    now = ctx.clock()
    return await _command(
        ctx,
        principal,
        "answer-follow-up",
        case_id,
        lambda r: lifecycle.answer_follow_up(
            r, expert_id=principal.subject, follow_up_id=follow_up_id, answer=answer, now=now
        ),
    )


async def close_follow_up(
    ctx: ReportsContext,
    *,
    principal: Principal,
    case_id: str,
    follow_up_id: str,
    reason: CloseReason,
) -> ReportRecord:
    now = ctx.clock()
    return await _command(
        ctx,
        principal,
        "close-follow-up",
        case_id,
        lambda r: lifecycle.close_follow_up(
            r, follow_up_id=follow_up_id, by_role=principal.role, reason=reason, now=now
        ),
    )


async def preview_draft(ctx: ReportsContext, *, principal: Principal, case_id: str) -> str:
    """The draft rendered as HTML, marked as a draft, for the authors and staff."""
    record = await load_report(ctx, principal, "read-draft", case_id)
    draft = lifecycle.require_draft(record)
    assert record.facts is not None
    language = language_of(record.facts.language, ctx.languages)
    content = ReportContent(sections=draft.sections, language=language, draft=True)
    return render_report(record, content, ctx.letterhead)


async def sign_report(
    ctx: ReportsContext, *, principal: Principal, case_id: str, expected_revision: int | None
) -> ReportRecord:
    """Render the draft, store HTML and PDF, and issue the version with `report.issued`."""
    record = await load_report(ctx, principal, "write-draft", case_id)
    plan = lifecycle.plan_signing(
        record,
        expert_id=principal.subject,
        expected_revision=expected_revision,
        languages=ctx.languages,
    )
    issued_at = ctx.clock()
    assert record.facts is not None
    # A fresh folder per attempt: a losing concurrent signer never overwrites the winner's files.
    folder = f"{case_id}/{record.report_id}/v{plan.version}-{ctx.new_id()[-12:]}"
    stored: list[StoredObject] = []

    async def rendered(language: str, zone: str | None, suffix: str) -> ReportRendition:
        """The version in one language, rendered and stored (its dates in `zone`)."""
        content = ReportContent(
            sections=plan.sections,
            language=language,
            version=plan.version,
            amends_version=plan.amends_version,
            change_summary=plan.change_summary,
            signed_by=plan.signed_by,
            co_authors=tuple(plan.co_authors),
            issued_at=issued_at,
            follow_ups=tuple(plan.follow_ups),
            time_zone=zone,
        )
        html = render_report(record, content, ctx.letterhead).encode()
        pdf = await ctx.renderer.pdf(html.decode())
        html_type = "text/html; charset=utf-8"
        html_object = await _put(ctx.objects, f"{folder}/report{suffix}.html", html, html_type)
        stored.append(html_object)
        pdf_object = await _put(ctx.objects, f"{folder}/report{suffix}.pdf", pdf, "application/pdf")
        stored.append(pdf_object)
        return ReportRendition(language=language, html=html_object, pdf=pdf_object)

    try:
        family = await rendered(plan.language, record.facts.time_zone, "")
        # The physician's own language (once: only when it is not the family's).
        others = [
            await rendered(language, record.facts.physician_time_zone, f".{language}")
            for language in plan.other_languages
        ]

        def decide(current: ReportRecord) -> tuple[ReportRecord, list[Payload]]:
            access.check_report(principal, "write-draft", current, case_id)
            after, event = lifecycle.issue(
                current,
                plan,
                html=family.html,
                pdf=family.pdf,
                issued_at=issued_at,
                renditions=tuple(others),
            )
            return after, [event]

        return await change_report(ctx, case_id, decide)
    except BaseException:
        await asyncio.gather(*(ctx.objects.delete(obj.key) for obj in stored))
        raise


async def _put(objects: ObjectStore, key: str, data: bytes, content_type: str) -> StoredObject:
    with tempfile.TemporaryDirectory(prefix="report-") as directory:
        path = Path(directory) / "object"
        await asyncio.to_thread(path.write_bytes, data)
        await objects.put_file(key, path, content_type)
    return StoredObject(
        bucket=objects.bucket,
        key=key,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        content_type=content_type,
    )
