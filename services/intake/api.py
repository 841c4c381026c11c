"""HTTP routes of the intake service: parse, authorize, call a handler.

The request form is public (a family has no account yet) and limited in size and rate; every
other route needs a token: a case link for the status page and withdrawal, staff for the intake
team's view.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, FastAPI, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from services.intake import domain, handlers, queries
from services.intake.consult_api import consult_router
from services.intake.deps import (
    Caller,
    Context,
    OptionalCaller,
    Staff,
    WithinRate,
    client_address,
)
from services.intake.domain import AgeBand, CaseFilter, CaseRecord, DomainError, Transition
from services.intake.erasure_api import erasure_router
from services.intake.fees_api import fees_router
from services.intake.fhir_api import FHIR_JSON, FHIR_PATH, fhir_router, fhir_too_large
from services.intake.fhir_outcome import FhirError
from services.intake.handlers import IntakeContext
from services.intake.limits import BodySizeLimit, RateLimiter
from services.intake.views import (
    CaseCreate,
    CaseDetail,
    CaseLink,
    CaseStatusView,
    CaseSummary,
    ConsentText,
    LinkRequest,
    LinksRevoked,
    NoteCreate,
    ReasonRequest,
    ResumeRequest,
    RevokeLinksRequest,
    SubmissionAccepted,
    TriageRequest,
    WithdrawRequest,
    warnings_for,
)
from shared.audit import audit_case
from shared.auth import Principal
from shared.consumer import TransientError
from shared.contracts.case_updated import CaseStatus
from shared.contracts.common import Actor, Specialty, Urgency
from shared.errors import error_body
from shared.probes import ReadinessCheck
from shared.webapp import create_service_app

STATUS_OF_CODE = {
    "not_found": 404,
    "forbidden": 403,
    "invalid_transition": 409,
    "case_closed": 409,
    "unchanged": 409,
    "consult_not_found": 404,
    "report_not_issued": 409,
    "consult_open": 409,
    "slot_passed": 409,
    "consent_already_withdrawn": 409,
    "already_erased": 409,
    "erasure_pending": 409,
    "no_erasure_request": 409,
    "clearance_not_required": 409,
    "not_authorized": 409,
}
IDEMPOTENCY_KEY = r"^[A-Za-z0-9._:-]{8,200}$"

router = APIRouter()
Limit = Annotated[int, Query(ge=1, le=500)]
# The store reads 2 * (offset + limit) ids: unbounded, a huge offset overflowed MongoDB's
# 8-byte integers (a 500) or read the whole collection.
MAX_OFFSET = 100_000
Age = Annotated[int | None, Query(ge=0, le=domain.MAX_AGE_YEARS)]
Language = Annotated[str | None, Query(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]


@router.post("/cases", status_code=201, tags=["request form"], dependencies=[WithinRate])
async def submit_case(
    form: CaseCreate,
    request: Request,
    response: Response,
    caller: OptionalCaller,
    ctx: Context,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", pattern=IDEMPOTENCY_KEY)
    ] = None,
) -> SubmissionAccepted:
    """Ask for a second opinion; returns the case id, its status page and a link for this case."""
    accepted = await handlers.submit_form(
        ctx=ctx,
        form=form,
        principal=caller,
        idempotency_key=idempotency_key,
        client=_client(request),
    )
    record = accepted.record
    audit_case(request, record.case_id)
    if accepted.replayed:
        response.status_code = 200
    return SubmissionAccepted(
        case_id=record.case_id,
        status_url=f"/cases/{record.case_id}/status",
        link=handlers.issue_link(ctx, record.case_id, form.submitted_by),
        records=handlers.records_links(ctx, record.case_id),
        warnings=warnings_for(record.submission),
        replayed=accepted.replayed,
    )


@router.get("/consent", tags=["request form"])
async def current_consent(ctx: Context, lang: Language = None) -> ConsentText:
    """The consent text new requests agree to, in `lang` (else English). The form shows it
    and sends back its `version`, `language` and `sha256` as the signature of what was read."""
    return _consent_text(ctx, ctx.consents.current_version, lang)


@router.get("/consent/{version}", tags=["request form"])
async def consent_version(version: str, ctx: Context, lang: Language = None) -> ConsentText:
    """One version of the consent text (every version cases may cite stays readable)."""
    if version not in ctx.consents.versions:
        raise DomainError("not_found", "no consent text has this version", "version")
    return _consent_text(ctx, version, lang)


def _consent_text(ctx: IntakeContext, version: str, lang: str | None) -> ConsentText:
    document = ctx.consents.document(version, lang)
    return ConsentText(
        version=document.version,
        language=document.language,
        text=document.text,
        sha256=document.sha256,
        current=version == ctx.consents.current_version,
        languages=ctx.consents.languages(version),
    )


@router.get("/cases/{case_id}/status", tags=["family"])
async def case_status(case_id: str, caller: Caller, ctx: Context) -> CaseStatusView:
    """Where the case stands, what is still missing, and where to upload records."""
    return await queries.case_status(ctx=ctx, principal=caller, case_id=case_id)


@router.get("/cases", tags=["intake team"])
async def list_cases(
    caller: Staff,
    ctx: Context,
    status: Annotated[list[CaseStatus] | None, Query()] = None,
    specialty: Annotated[list[Specialty] | None, Query()] = None,
    urgency: Annotated[list[Urgency] | None, Query()] = None,
    age_band: AgeBand | None = None,
    min_age: Age = None,
    max_age: Age = None,
    limit: Limit = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[CaseSummary]:
    """Cases, newest first, narrowed by status, specialty, urgency and age (years or band)."""
    case_filter = CaseFilter.of(
        statuses=tuple(status or ()),
        specialties=tuple(specialty or ()),
        urgencies=tuple(urgency or ()),
        age_band=age_band,
        min_age=min_age,
        max_age=max_age,
    )
    return await queries.list_cases(
        ctx=ctx, principal=caller, case_filter=case_filter, limit=limit, offset=offset
    )


@router.get("/cases/{case_id}", tags=["intake team"])
async def get_case(case_id: str, caller: Staff, ctx: Context) -> CaseDetail:
    """One case: the submission, notes, what staff did, and where it stands."""
    return await queries.case_detail(ctx=ctx, principal=caller, case_id=case_id)


@router.post("/cases/{case_id}/triage", tags=["intake team"])
async def triage(case_id: str, body: TriageRequest, caller: Staff, ctx: Context) -> CaseDetail:
    """Choose the specialty (for a "not sure" request, or to correct one)."""

    def decide(record: CaseRecord, actor: Actor, at: datetime) -> Transition:
        return domain.triage(record, body.specialty, actor=actor, reason=body.reason, at=at)

    return await _changed(ctx, caller, case_id, decide)


@router.post("/cases/{case_id}/notes", tags=["intake team"])
async def add_note(case_id: str, body: NoteCreate, caller: Staff, ctx: Context) -> CaseDetail:
    """Record outreach to the family or the physician (the event carries no note text)."""
    note_id = ctx.new_id()

    def decide(record: CaseRecord, actor: Actor, at: datetime) -> Transition:
        return domain.add_note(
            record, note_id=note_id, text=body.text, channel=body.channel, actor=actor, at=at
        )

    return await _changed(ctx, caller, case_id, decide)


@router.post("/cases/{case_id}/hold", tags=["intake team"])
async def hold(case_id: str, body: ReasonRequest, caller: Staff, ctx: Context) -> CaseDetail:
    """Put the case on hold, saying why."""

    def decide(record: CaseRecord, actor: Actor, at: datetime) -> Transition:
        return domain.put_on_hold(record, actor=actor, reason=body.reason, at=at)

    return await _changed(ctx, caller, case_id, decide)


@router.post("/cases/{case_id}/resume", tags=["intake team"])
async def resume(case_id: str, body: ResumeRequest, caller: Staff, ctx: Context) -> CaseDetail:
    """Take the case off hold."""

    def decide(record: CaseRecord, actor: Actor, at: datetime) -> Transition:
        return domain.resume(record, actor=actor, reason=body.reason, at=at)

    return await _changed(ctx, caller, case_id, decide)


@router.post("/cases/{case_id}/cancel", tags=["intake team"])
async def cancel(case_id: str, body: ReasonRequest, caller: Staff, ctx: Context) -> CaseDetail:
    """Cancel the case, saying why; it takes no more records."""

    def decide(record: CaseRecord, actor: Actor, at: datetime) -> Transition:
        return domain.cancel(record, actor=actor, reason=body.reason, at=at)

    return await _changed(ctx, caller, case_id, decide)


@router.post("/cases/{case_id}/withdraw", tags=["family"])
async def withdraw(
    case_id: str, caller: Caller, ctx: Context, body: WithdrawRequest | None = None
) -> CaseStatusView:
    """Withdraw your request with your case link (the family or the referring physician);
    the body, with a reason, is optional."""
    reason = body.reason if body else None
    await handlers.withdraw_case(ctx=ctx, principal=caller, case_id=case_id, reason=reason)
    return await queries.case_status(ctx=ctx, principal=caller, case_id=case_id)


@router.post("/cases/{case_id}/consent/withdraw", tags=["family"])
async def withdraw_consent(
    case_id: str,
    request: Request,
    caller: Caller,
    ctx: Context,
    body: WithdrawRequest | None = None,
) -> CaseStatusView:
    """The parent or guardian withdraws consent with their case link: the review stops as for
    a withdrawal (no expert, no report), and the signature record says when."""
    await handlers.withdraw_consent(
        ctx=ctx,
        principal=caller,
        case_id=case_id,
        reason=body.reason if body else None,
        client=_client(request),
    )
    return await queries.case_status(ctx=ctx, principal=caller, case_id=case_id)


def _client(request: Request) -> handlers.Client:
    return handlers.Client(ip=client_address(request), user_agent=request.headers.get("user-agent"))


@router.post("/cases/{case_id}/links", status_code=201, tags=["intake team"])
async def new_link(case_id: str, body: LinkRequest, caller: Staff, ctx: Context) -> CaseLink:
    """A new case link for the family or the physician (the first one may have expired)."""
    record = await queries.load_case(
        ctx=ctx, principal=caller, action="manage-cases", case_id=case_id
    )
    return handlers.issue_link(ctx, case_id, body.role, not_before=record.links_not_before)


@router.post("/cases/{case_id}/links/revoke", tags=["intake team", "family"])
async def revoke_links(
    case_id: str, body: RevokeLinksRequest, caller: Caller, ctx: Context
) -> LinksRevoked:
    """End every link to this case issued until now, at every service (staff may reissue)."""
    return await handlers.revoke_links(
        ctx=ctx, principal=caller, case_id=case_id, reason=body.reason, reissue=body.reissue
    )


async def _changed(
    ctx: IntakeContext, caller: Principal, case_id: str, decide: handlers.Decide
) -> CaseDetail:
    await handlers.change_case(ctx=ctx, principal=caller, case_id=case_id, decide=decide)
    return await queries.case_detail(ctx=ctx, principal=caller, case_id=case_id)


def create_app(
    *,
    ctx: IntakeContext,
    authenticate: Callable[[Request], Principal],
    readiness: Mapping[str, ReadinessCheck],
) -> FastAPI:
    app = create_service_app(
        title="intake service",
        description="Case intake: the request form, hospital submissions (Kafka and FHIR), "
        "the intake team's view and the family's status page.",
        readiness=readiness,
    )
    settings = ctx.settings
    app.state.intake = ctx
    app.state.authenticate = authenticate
    app.state.submission_limiter = RateLimiter(settings.submissions_per_minute)
    app.state.trusted_proxies = frozenset(settings.trusted_proxies)
    app.add_middleware(
        BodySizeLimit,
        default=settings.max_form_bytes,
        limits={"/cases": settings.max_form_bytes, FHIR_PATH: settings.max_fhir_bytes},
        bodies={FHIR_PATH: fhir_too_large},
    )
    app.include_router(router)
    app.include_router(consult_router)
    app.include_router(erasure_router)
    app.include_router(fees_router)
    app.include_router(fhir_router)

    @app.exception_handler(DomainError)
    async def _refused(_: Request, exc: DomainError) -> JSONResponse:
        extra = {"field": exc.field} if exc.field else {}
        status = STATUS_OF_CODE.get(exc.code, 422)
        return JSONResponse(error_body(exc.code, exc.message, **extra), status_code=status)

    @app.exception_handler(FhirError)
    async def _fhir(_: Request, exc: FhirError) -> JSONResponse:
        return JSONResponse(exc.outcome(), status_code=exc.status, media_type=FHIR_JSON)

    @app.exception_handler(TransientError)
    async def _busy(_: Request, exc: TransientError) -> JSONResponse:
        body = error_body("busy", "the case changed while we were saving; try again")
        return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})

    return app
