"""HTTP routes of the reports service: parse, authorize, call a handler."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse

from services.reports import handlers
from services.reports.domain import IssuedVersion, NotFound, ReportError, ReportRecord, language_of
from services.reports.fhir import diagnostic_report
from services.reports.handlers import ReportsContext
from services.reports.views import (
    AnswerRequest,
    CloseFollowUpRequest,
    DraftUpdate,
    DraftView,
    FollowUpRequest,
    ReportSummary,
    ReportView,
    SignRequest,
    VersionView,
)
from shared.audit import audit_case
from shared.auth import Principal
from shared.consumer import TransientError
from shared.errors import ApiError, error_body
from shared.objectstore import ObjectNotFound
from shared.probes import ReadinessCheck
from shared.webapp import create_service_app

router = APIRouter(tags=["reports"])
ETAG = re.compile(r'^(?:W/)?"?(\d{1,9})"?$')


def _principal(request: Request) -> Principal:
    authenticate: Callable[[Request], Principal] = request.app.state.authenticate
    return authenticate(request)


def _context(request: Request) -> ReportsContext:
    ctx: ReportsContext = request.app.state.reports
    return ctx


Caller = Annotated[Principal, Depends(_principal)]
Context = Annotated[ReportsContext, Depends(_context)]
IfMatch = Annotated[str | None, Header(alias="If-Match")]


@router.get("/reports")
async def list_reports(
    caller: Caller, ctx: Context, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[ReportSummary]:
    """Reports this caller may see: staff all, an expert their own, a family their case's."""
    return [ReportSummary.of(r) for r in await handlers.list_reports(ctx, caller, limit)]


@router.get("/cases/{case_id}/report")
async def get_report(case_id: str, caller: Caller, ctx: Context) -> ReportView:
    """The issued versions and follow-up questions (a family gets 404 until one is issued)."""
    return ReportView.of(await handlers.load_report(ctx, caller, "read-issued", case_id))


@router.get("/cases/{case_id}/report/draft")
async def get_draft(case_id: str, caller: Caller, ctx: Context) -> JSONResponse:
    """The draft, its revision (also the ETag) and the case it is about, with record links."""
    record = await handlers.load_report(ctx, caller, "read-draft", case_id)
    return _draft_response(record, ctx)


@router.patch("/cases/{case_id}/report/draft")
async def save_draft(
    case_id: str, body: DraftUpdate, caller: Caller, ctx: Context, if_match: IfMatch = None
) -> JSONResponse:
    """Autosave: send the revision you edited (If-Match or `revision`); a stale one gets 409,
    as does any write once the case is cancelled (`case_cancelled`)."""
    expected = _expected_revision(if_match, body.revision)
    if expected is None:
        raise ApiError(428, "revision_required", "send If-Match or revision", "If-Match")
    current = await handlers.load_report(ctx, caller, "write-draft", case_id)
    sections = current.draft.sections if current.draft else None
    record = await handlers.save_draft(
        ctx,
        principal=caller,
        case_id=case_id,
        expected_revision=expected,
        changes=body.section_changes(sections) if sections else {},
        change_summary=body.change_summary,
    )
    return _draft_response(record, ctx)


@router.get("/cases/{case_id}/report/draft/preview", response_class=HTMLResponse)
async def preview_draft(case_id: str, caller: Caller, ctx: Context) -> HTMLResponse:
    """The draft rendered as the family would read it, marked DRAFT."""
    html = await handlers.preview_draft(ctx, principal=caller, case_id=case_id)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@router.post("/cases/{case_id}/report/sign", status_code=201)
async def sign_report(
    case_id: str,
    caller: Caller,
    ctx: Context,
    body: SignRequest | None = None,
    if_match: IfMatch = None,
) -> VersionView:
    """The lead signs: the version is frozen, stored as HTML and PDF, and report.issued sent
    (409 `case_cancelled` once the case is cancelled or withdrawn)."""
    expected = _expected_revision(if_match, body.revision if body else None)
    record = await handlers.sign_report(
        ctx, principal=caller, case_id=case_id, expected_revision=expected
    )
    assert record.latest is not None
    return VersionView.of(case_id, record.latest)


@router.post("/cases/{case_id}/report/amendments", status_code=201)
async def open_amendment(case_id: str, caller: Caller, ctx: Context) -> JSONResponse:
    """Start version n+1 from the latest issued one; signing it issues an amendment (409
    `case_cancelled` once the case is cancelled or withdrawn)."""
    record = await handlers.open_amendment(ctx, principal=caller, case_id=case_id)
    return _draft_response(record, ctx, status=201)


@router.get("/cases/{case_id}/report/versions/{version}")
async def get_version(case_id: str, version: int, caller: Caller, ctx: Context) -> VersionView:
    """One issued version: its hashes and where to fetch it."""
    record = await handlers.load_report(ctx, caller, "read-issued", case_id)
    return VersionView.of(case_id, _version(record, version))


@router.get("/cases/{case_id}/report/latest/report.{fmt}", response_model=None)
async def get_latest_file(
    case_id: str, fmt: str, caller: Caller, ctx: Context, language: str | None = None
) -> StreamingResponse:
    """The newest issued version (the link in the family's email stays right after amendments)."""
    return await get_version_file(case_id, 0, fmt, caller, ctx, language)


@router.get("/cases/{case_id}/report/versions/{version}/report.{fmt}", response_model=None)
async def get_version_file(
    case_id: str,
    version: int,
    fmt: str,
    caller: Caller,
    ctx: Context,
    language: str | None = None,
) -> StreamingResponse:
    """The issued version, `report.pdf` or `report.html`, in the caller's language: the
    referring physician's own when it was rendered in it, else the family's (`?language=`
    picks one of the languages it was issued in)."""
    if fmt not in ("pdf", "html"):
        raise ApiError(404, "not_found", "the report is served as report.pdf or report.html")
    record = await handlers.load_report(ctx, caller, "read-issued", case_id)
    latest = record.versions[-1].version if record.versions else 0
    issued = _version(record, version or latest)
    if language is None and caller.role == "referring-physician" and record.facts is not None:
        language = record.facts.physician_language
    _, html, pdf = issued.file_for(language and language_of(language, ctx.languages))
    stored = pdf if fmt == "pdf" else html
    try:
        chunks = ctx.objects.stream(stored.key)
        first = await anext(chunks)
    except (ObjectNotFound, StopAsyncIteration):
        raise ApiError(404, "file_not_found", "the stored file is missing") from None
    headers = {
        "ETag": f'"{stored.sha256}"',
        "Content-Disposition": f'inline; filename="{record.report_id}-v{version}.{fmt}"',
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
    }
    if fmt == "html":
        # Our own inline stylesheet only; nothing in a report may run or load anything.
        headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return StreamingResponse(
        _prepend(first, chunks), media_type=stored.content_type, headers=headers
    )


@router.get("/cases/{case_id}/report/follow-ups")
async def list_follow_ups(case_id: str, caller: Caller, ctx: Context) -> ReportView:
    """The follow-up questions after the report, with their answers."""
    return ReportView.of(await handlers.load_report(ctx, caller, "read-follow-ups", case_id))


@router.post("/cases/{case_id}/report/follow-ups", status_code=201)
async def ask_follow_up(
    case_id: str, body: FollowUpRequest, caller: Caller, ctx: Context
) -> ReportView:
    """The family or the physician asks the expert a question about the issued report, within
    the program's number per case and days after the report (409 `follow_up_limit`,
    `follow_up_window_closed`, `case_cancelled`); the authors and the intake team are told."""
    record = await handlers.ask_follow_up(
        ctx, principal=caller, case_id=case_id, question=body.question
    )
    return ReportView.of(record)


@router.post("/cases/{case_id}/report/follow-ups/{follow_up_id}/answer")
async def answer_follow_up(
    case_id: str, follow_up_id: str, body: AnswerRequest, caller: Caller, ctx: Context
) -> ReportView:
    """An author answers; the answer is shown to the family and printed in the next version
    (409 `case_cancelled` once the case is cancelled or withdrawn)."""
    record = await handlers.answer_follow_up(
        ctx, principal=caller, case_id=case_id, follow_up_id=follow_up_id, answer=body.answer
    )
    return ReportView.of(record)


@router.post("/cases/{case_id}/report/follow-ups/{follow_up_id}/close")
async def close_follow_up(
    case_id: str, follow_up_id: str, body: CloseFollowUpRequest, caller: Caller, ctx: Context
) -> ReportView:
    """An author or the intake team closes an open question without a written answer (409
    `follow_up_answered` / `follow_up_closed` when it is not open)."""
    record = await handlers.close_follow_up(
        ctx, principal=caller, case_id=case_id, follow_up_id=follow_up_id, reason=body.reason
    )
    return ReportView.of(record)


@router.get("/fhir/DiagnosticReport/{report_id}", tags=["fhir"])
async def fhir_diagnostic_report(
    report_id: str, request: Request, caller: Caller, ctx: Context
) -> JSONResponse:
    """The latest issued version as a FHIR R4 DiagnosticReport with the PDF as presentedForm."""
    case_id = report_id.removeprefix("rpt-")
    if case_id == report_id:
        raise NotFound("report_not_found", f"no report {report_id}", "report_id")
    audit_case(request, case_id)  # before the access check: a refusal is the case's too
    record = await handlers.load_report(ctx, caller, "read-issued", case_id)
    latest = record.latest
    if latest is None:
        raise NotFound("report_not_found", f"no issued report {report_id}", "report_id")
    pdf = b"".join([chunk async for chunk in ctx.objects.stream(latest.pdf.key)])
    resource = diagnostic_report(record, latest, pdf)
    return JSONResponse(resource, media_type="application/fhir+json")


def create_app(
    *,
    ctx: ReportsContext,
    authenticate: Callable[[Request], Principal],
    readiness: Mapping[str, ReadinessCheck],
) -> FastAPI:
    app = create_service_app(
        title="reports service",
        description="Reports: drafting, rendering, signing and report.issued.",
        readiness=readiness,
    )
    app.state.reports = ctx
    app.state.authenticate = authenticate
    app.include_router(router)

    @app.exception_handler(ReportError)
    async def _refused(_: Request, exc: ReportError) -> JSONResponse:
        extra = {"field": exc.field} if exc.field else {}
        body = error_body(exc.code, exc.message, **extra, **exc.extra)
        return JSONResponse(body, status_code=exc.status)

    @app.exception_handler(TransientError)
    async def _busy(_: Request, exc: TransientError) -> JSONResponse:
        body = error_body("busy", "the report changed while we were saving; try again")
        return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})

    return app


def _draft_response(record: ReportRecord, ctx: ReportsContext, status: int = 200) -> JSONResponse:
    view = DraftView.of(_with_draft(record), ctx.records_base_url)
    return JSONResponse(
        view.model_dump(mode="json"),
        status_code=status,
        headers={"ETag": f'"{view.revision}"', "Cache-Control": "no-store"},
    )


def _with_draft(record: ReportRecord) -> ReportRecord:
    if record.draft is None or record.facts is None:
        message = "no draft: the report is issued" if record.versions else "no draft yet"
        raise NotFound("draft_not_found", message, "case_id")
    return record


def _expected_revision(if_match: str | None, revision: int | None) -> int | None:
    if if_match is None:
        return revision
    found = ETAG.match(if_match.strip())
    if found is None:
        raise ApiError(
            422, "invalid_field", 'If-Match: send the draft\'s ETag, e.g. "3"', "If-Match"
        )
    return int(found.group(1))


def _version(record: ReportRecord, number: int) -> IssuedVersion:
    found = record.version(number)
    if found is None:
        raise NotFound("version_not_found", f"no version {number} of this report", "version")
    return found


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk
