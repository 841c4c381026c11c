"""The intake team's pages: the case queue, a case's detail, and what they do to a case."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, get_args
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from services.web.backends import BackendError
from services.web.family import pass_on_download
from services.web.i18n import sentence_for
from services.web.public import SPECIALTIES
from services.web.session import Person
from services.web.web import (
    STAFF_ROLES,
    Web,
    WebDep,
    field_errors,
    language_of,
    problem_page,
    redirect,
    render,
    sentence,
    signed_in,
    time_zone_of,
)
from shared.contracts.consult_updated import ConsultCancelReason
from shared.contracts.financial_clearance_updated import ClearanceMethod, money

router = APIRouter(prefix="/staff")
STATUSES = ("open", "on-hold", "cancelled")
URGENCIES = ("urgent", "routine")
AGE_BANDS = ("infant", "toddler", "child", "adolescent", "young-adult")
NOTE_CHANNELS = ("phone", "email", "video", "message", "other")
REQUESTABLE = (
    "mri-imaging",
    "ct-imaging",
    "xray-imaging",
    "other-imaging",
    "pathology-report",
    "lab-results",
    "genetic-test-results",
    "treatment-records",
    "operative-reports",
    "biopsy-slides",
    "discharge-summaries",
    "current-medications",
    "past-medications",
    "other-records",
)
PAGE = 50
CONSULT_CANCEL_REASONS: tuple[str, ...] = get_args(ConsultCancelReason)
CLEARANCE_METHODS: tuple[str, ...] = get_args(ClearanceMethod)
# Why the intake team may refuse an erasure (intake's RefusalReason; intake checks the code).
ERASURE_REFUSALS = ("legal-hold", "identity-not-confirmed", "duplicate-request", "other")


def staff_person(request: Request, web: Web) -> Person | Response:
    return signed_in(request, web, STAFF_ROLES)


@router.get("")
async def queue(request: Request, web: WebDep) -> Response:
    who = staff_person(request, web)
    if isinstance(who, Response):
        return who
    query = request.query_params
    chosen = {
        "status": query.get("status", "open"),
        "specialty": query.get("specialty", ""),
        "urgency": query.get("urgency", ""),
        "age_band": query.get("age_band", ""),
    }
    offset = max(0, int(query.get("offset", "0") or 0)) if query.get("offset", "0").isdigit() else 0
    params: dict[str, Any] = {k: v for k, v in chosen.items() if v}
    params.update(limit=PAGE + 1, offset=offset)
    try:
        cases = await web.backends.call("GET", "intake", "/cases", token=who.token, params=params)
    except BackendError as error:
        return problem_page(request, error)
    return render(
        request,
        "staff_queue.html",
        cases=cases[:PAGE],
        more=len(cases) > PAGE,
        offset=offset,
        page=PAGE,
        chosen=chosen,
        statuses=STATUSES,
        specialties=SPECIALTIES,
        urgencies=URGENCIES,
        age_bands=AGE_BANDS,
    )


@router.get("/cases/{case_id}")
async def case_detail(case_id: str, request: Request, web: WebDep) -> Response:
    who = staff_person(request, web)
    if isinstance(who, Response):
        return who
    return await _detail(request, web, who, case_id)


async def _detail(
    request: Request,
    web: Web,
    who: Person,
    case_id: str,
    *,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    try:
        case, checklist, consults, follow_ups, erasure = await asyncio.gather(
            web.backends.call("GET", "intake", f"/cases/{case_id}", token=who.token),
            _checklist(web, case_id, who.token),
            _consults(web, case_id, who.token),
            _follow_ups(web, case_id, who.token),
            _erasure(web, case_id, who.token),
        )
    except BackendError as error:
        return problem_page(request, error)
    clearance = case.get("clearance")
    estimate = (clearance or {}).get("estimate")
    return render(
        request,
        "staff_case.html",
        status_code=status_code,
        case=case,
        clearance=clearance,
        clearance_methods=CLEARANCE_METHODS,
        estimate_total=(
            money(estimate["total_minor"], estimate["currency"], language_of(request))
            if estimate
            else None
        ),
        checklist=checklist,
        consults=consults,
        follow_ups=follow_ups,
        erasure=erasure,
        erasure_refusals=ERASURE_REFUSALS,
        cancel_reasons=CONSULT_CANCEL_REASONS,
        zone_name=str(time_zone_of(request)),
        specialties=SPECIALTIES,
        requestable=REQUESTABLE,
        channels=NOTE_CHANNELS,
        notice=request.query_params.get("notice", ""),
        errors=extra.pop("errors", {}),
        **extra,
    )


async def _consults(web: Web, case_id: str, token: str) -> Any:
    try:
        return await web.backends.call("GET", "intake", f"/cases/{case_id}/consults", token=token)
    except BackendError as error:
        if error.status == 404:  # the case page still shows what it can
            return []
        raise


async def _erasure(web: Web, case_id: str, token: str) -> Any:
    """Whether the guardian asked to erase the child's data, and what was decided."""
    try:
        return await web.backends.call("GET", "intake", f"/cases/{case_id}/erasure", token=token)
    except BackendError as error:
        if error.status == 404:
            return None
        raise


async def _follow_ups(web: Web, case_id: str, token: str) -> list[Any]:
    """The family's questions after the report (none before it is issued)."""
    try:
        path = f"/cases/{case_id}/report/follow-ups"
        report = await web.backends.call("GET", "reports", path, token=token)
    except BackendError as error:
        if error.status == 404:
            return []
        raise
    return list(report.get("follow_ups") or [])


async def _checklist(web: Web, case_id: str, token: str) -> Any:
    try:
        return await web.backends.call("GET", "records", f"/cases/{case_id}/checklist", token=token)
    except BackendError as error:
        if error.status == 404:  # records has not seen the case yet
            return None
        raise


@router.get("/cases/{case_id}/documents/{document_id}")
async def document(case_id: str, document_id: str, request: Request, web: WebDep) -> Response:
    """An uploaded document as the family sent it, for the coordinator to check."""
    who = staff_person(request, web)
    if isinstance(who, Response):
        return who
    path = f"/cases/{case_id}/documents/{document_id}"
    return await pass_on_download(request, web, "records", path, who.token)


@router.post("/cases/{case_id}/follow-ups/{follow_up_id}/close")
async def close_follow_up(
    case_id: str, follow_up_id: str, request: Request, web: WebDep
) -> Response:
    """A question answered by phone, or not one for the expert: closed with its reason, and
    the family is told."""
    who = staff_person(request, web)
    if isinstance(who, Response):
        return who
    form = await request.form()
    if not web.sessions.csrf_ok(request, str(form.get("csrf", ""))):
        return await _detail(request, web, who, case_id, status_code=403, errors={"_form": "csrf"})
    try:
        await web.backends.call(
            "POST",
            "reports",
            f"/cases/{case_id}/report/follow-ups/{follow_up_id}/close",
            token=who.token,
            json={"reason": str(form.get("reason", ""))},
        )
    except BackendError as error:
        if error.status == 401:
            return problem_page(request, error)
        errors = {"follow_up": sentence(request, error)}
        return await _detail(request, web, who, case_id, status_code=error.status, errors=errors)
    return redirect(f"/staff/cases/{case_id}?notice=saved#follow-ups")


@router.post("/cases/{case_id}/consults/{consult_id}/{step}")
async def consult_step(
    case_id: str, consult_id: str, step: str, request: Request, web: WebDep
) -> Response:
    """Offer times for a consult (or new ones), or call it off: one call to intake."""
    who = staff_person(request, web)
    if isinstance(who, Response):
        return who
    form = await request.form()
    if not web.sessions.csrf_ok(request, str(form.get("csrf", ""))):
        return await _detail(request, web, who, case_id, status_code=403, errors={"_form": "csrf"})
    if step not in ("propose", "reschedule", "cancel"):
        return problem_page(request, BackendError(404, "not_found", ""))
    if step == "cancel":
        body: dict[str, Any] = {"reason": str(form.get("reason", ""))}
    else:
        try:
            body = consult_proposal(form, time_zone_of(request))
        except ValueError:  # a browser without datetime-local sent free text
            errors = {"consult": sentence_for(language_of(request), "invalid_time")}
            return await _detail(request, web, who, case_id, status_code=422, errors=errors)
    try:
        await web.backends.call(
            "POST",
            "intake",
            f"/cases/{case_id}/consults/{consult_id}/{step}",
            token=who.token,
            json=body,
        )
    except BackendError as error:
        if error.status == 401:
            return problem_page(request, error)
        errors = {"consult": sentence(request, error)}
        return await _detail(request, web, who, case_id, status_code=error.status, errors=errors)
    return redirect(f"/staff/cases/{case_id}?notice=saved#consults")


def consult_proposal(form: FormData, zone: ZoneInfo) -> dict[str, Any]:
    """The proposal intake takes, from the form: times typed in the coordinator's own zone
    (datetime-local has none) sent as UTC, blanks left out."""
    minutes = int(str(form.get("minutes") or 45))
    slots = []
    for name in ("slot_1", "slot_2", "slot_3"):
        typed = str(form.get(name, "")).strip()
        if typed:
            local = datetime.fromisoformat(typed).replace(tzinfo=zone)
            slots.append({"start": local.astimezone(UTC).isoformat(), "minutes": minutes})
    body: dict[str, Any] = {"slots": slots, "expert_id": str(form.get("expert_id", "")).strip()}
    for name in ("meeting_url", "expert_time_zone"):
        if value := str(form.get(name, "")).strip():
            body[name] = value
    return body


@router.post("/cases/{case_id}/{action}")
async def act(case_id: str, action: str, request: Request, web: WebDep) -> Response:
    """Every button on the case page: one call to the service that owns that part."""
    who = staff_person(request, web)
    if isinstance(who, Response):
        return who
    form = await request.form()
    if not web.sessions.csrf_ok(request, str(form.get("csrf", ""))):
        return await _detail(request, web, who, case_id, status_code=403, errors={"_form": "csrf"})

    def text(name: str) -> str | None:
        value = str(form.get(name, "")).strip()
        return value or None

    calls: dict[str, tuple[Any, str, dict[str, Any]]] = {
        "triage": ("intake", "triage", {"specialty": text("specialty"), "reason": text("reason")}),
        "notes": ("intake", "notes", {"text": text("text"), "channel": text("channel") or "phone"}),
        "hold": ("intake", "hold", {"reason": text("reason")}),
        "resume": ("intake", "resume", {"reason": text("reason")}),
        "cancel": ("intake", "cancel", {"reason": text("reason")}),
        "links": ("intake", "links", {"role": text("role")}),
        "revoke": ("intake", "links/revoke", {"reason": text("reason") or "lost-or-shared"}),
        "financial-clearance": (
            "intake",
            "financial-clearance",
            {"method": text("method"), "reference": text("reference"), "payer": text("payer")},
        ),
        # The guardian's request to erase the child's personal data (intake's erasure.py).
        "erasure-approve": ("intake", "erasure/approve", {}),
        "erasure-refuse": ("intake", "erasure/refuse", {"reason": text("reason")}),
        "requests": (
            "records",
            "requests",
            {"items": [str(i) for i in form.getlist("items")], "message": text("message")},
        ),
    }
    if action not in calls:
        return problem_page(request, BackendError(404, "not_found", ""))
    service, path, body = calls[action]
    body = {k: v for k, v in body.items() if v is not None}
    try:
        answer = await web.backends.call(
            "POST", service, f"/cases/{case_id}/{path}", token=who.token, json=body
        )
    except BackendError as error:
        if error.status == 401:
            return problem_page(request, error)
        errors = {f"{action}.{k}": v for k, v in field_errors(request, error).items()}
        errors.setdefault(action, sentence(request, error))
        return await _detail(request, web, who, case_id, status_code=error.status, errors=errors)
    if action == "links":
        link = f"{web.settings.public_url}/c/{case_id}?access_token={answer['token']}"
        return await _detail(request, web, who, case_id, issued_link=link)
    notices = {"requests": "requested", "revoke": "revoked", "erasure-approve": "erased"}
    notice = notices.get(action, "saved")
    return redirect(f"/staff/cases/{case_id}?notice={notice}")
