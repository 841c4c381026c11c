"""The family's and the referring physician's pages, reached by the case link in every email."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from services.web.backends import BackendError
from services.web.session import Person
from services.web.web import (
    Web,
    WebDep,
    json_refusal,
    language_of,
    problem_page,
    redirect,
    render,
    sentence,
    session_ended,
    time_zone_of,
    wrong_role,
)
from shared.auth import CASE_LINK_ROLES
from shared.contracts.financial_clearance_updated import money

router = APIRouter(prefix="/c")
UPLOAD_KINDS = (
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


def _case_person(request: Request, web: Web, case_id: str) -> Person | Response:
    person = web.sessions.person(request)
    if person is None:
        return session_ended(request)
    if person.role not in CASE_LINK_ROLES:
        return wrong_role(request, person, sorted(CASE_LINK_ROLES))
    if not person.principal.may_see_case(case_id):
        return problem_page(request, BackendError(404, "not_found", ""))
    return person


@router.get("/{case_id}")
async def case_page(
    case_id: str, request: Request, web: WebDep, access_token: str | None = None
) -> Response:
    """The case link's page: the stage, what is missing, uploads, the report, follow-ups."""
    if access_token:
        # The link's token becomes the session cookie and leaves the address bar (and history).
        person = web.sessions.verify(access_token)
        if person is None:
            return session_ended(request)
        response = redirect(f"/c/{case_id}")
        web.sessions.start(response, person)
        return response
    who = _case_person(request, web, case_id)
    if isinstance(who, Response):
        return who
    try:
        status, checklist, report, erasure = await asyncio.gather(
            web.backends.call("GET", "intake", f"/cases/{case_id}/status", token=who.token),
            _optional(web, "records", f"/cases/{case_id}/checklist", who.token),
            _optional(web, "reports", f"/cases/{case_id}/report", who.token),
            _erasure(web, case_id, who),
        )
        consults = None
        if report and report.get("versions"):
            consults = await _optional(web, "intake", f"/cases/{case_id}/consults", who.token)
    except BackendError as error:
        return problem_page(request, error)
    return render(
        request,
        "case.html",
        case_id=case_id,
        status=status,
        estimate_total=_estimate_total(status, language_of(request)),
        checklist=checklist,
        report=report,
        consult=_latest_consult(consults),
        erasure=erasure,
        upload_kinds=_upload_kinds(checklist),
        resumable_from=web.settings.resumable_from_bytes,
        notice=request.query_params.get("notice", ""),
    )


def _estimate_total(status: dict[str, Any], language: str) -> str | None:
    """The fee estimate of a case waiting on financial clearance, as the family reads it."""
    estimate = status.get("estimate")
    return money(estimate["total_minor"], estimate["currency"], language) if estimate else None


async def _optional(web: Web, service: Any, path: str, token: str) -> Any:
    """A part of the page that may not exist yet (no report before it is issued)."""
    try:
        return await web.backends.call("GET", service, path, token=token)
    except BackendError as error:
        if error.status == 404:
            return None
        raise


async def _erasure(web: Web, case_id: str, who: Person) -> Any:
    """Where a request to erase the child's data stands; only the parent or guardian may ask
    (intake's rule too), so only their page shows it."""
    if who.role != "guardian":
        return None
    return await _optional(web, "intake", f"/cases/{case_id}/erasure", who.token)


def _latest_consult(consults: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    """The consult to show: the newest one, unless it was cancelled (then one may be asked)."""
    if not consults or consults[-1].get("state") == "cancelled":
        return None
    return consults[-1]


def _upload_kinds(checklist: dict[str, Any] | None) -> list[str]:
    """Missing items first, so the first choice is what we are waiting for."""
    missing = list(checklist["missing"]) if checklist else []
    return [
        *[k for k in missing if k in UPLOAD_KINDS],
        *[k for k in UPLOAD_KINDS if k not in missing],
    ]


@router.post("/{case_id}/upload")
async def upload(case_id: str, request: Request, web: WebDep, csrf: str = "") -> Response:
    """One file, passed through to the records service as it arrives (JS sends one per file)."""
    wants_json = "application/json" in request.headers.get("accept", "")
    who = _case_person(request, web, case_id)
    if isinstance(who, Response):
        return json_refusal(401, "unauthenticated", "sign in again") if wants_json else who
    sent = request.headers.get("x-csrf-token") or csrf
    if not web.sessions.csrf_ok(request, sent):
        return json_refusal(403, "csrf", "the page expired; reload it")
    try:
        status, body = await web.backends.upload(
            "records",
            f"/cases/{case_id}/documents",
            token=who.token,
            body=request.stream(),
            content_type=request.headers.get("content-type", ""),
            content_length=request.headers.get("content-length"),
        )
    except BackendError as error:
        if wants_json:
            return json_refusal(error.status, error.code, sentence(request, error))
        return problem_page(request, error)
    if wants_json:
        return JSONResponse(body, status_code=status)
    return redirect(f"/c/{case_id}?notice=uploaded#records")


@router.api_route("/{case_id}/uploads", methods=["POST"])
@router.api_route("/{case_id}/uploads/{upload_id}/{step}", methods=["POST"])
@router.api_route("/{case_id}/uploads/{upload_id}", methods=["GET"])
async def resumable_upload(
    case_id: str, request: Request, web: WebDep, upload_id: str = "", step: str = ""
) -> Response:
    """The page's script drives a resumable upload (records' `/cases/{id}/uploads`) with the
    person's link; the file's bytes go from the browser to the presigned URLs, not here."""
    who = _case_person(request, web, case_id)
    if isinstance(who, Response):
        return json_refusal(401, "unauthenticated", "sign in again")
    if step not in ("", "parts", "complete"):
        return json_refusal(404, "not_found", "no such step")
    if request.method == "POST" and not web.sessions.csrf_ok(
        request, request.headers.get("x-csrf-token", "")
    ):
        return json_refusal(403, "csrf", "the page expired; reload it")
    path = f"/cases/{case_id}/uploads" + (f"/{upload_id}" if upload_id else "")
    path += f"/{step}" if step else ""
    try:
        body = await request.json() if request.method == "POST" and step != "complete" else None
        answer = await web.backends.call(
            request.method, "records", path, token=who.token, json=body
        )
    except BackendError as error:
        return json_refusal(error.status, error.code, sentence(request, error))
    except ValueError:
        return json_refusal(422, "malformed_body", "the body is not JSON")
    return JSONResponse(answer)


@router.post("/{case_id}/withdraw")
async def withdraw(
    case_id: str,
    request: Request,
    web: WebDep,
    csrf: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """The family (or the physician) withdraws the request; every service honours it."""
    body = {"reason": reason.strip()} if reason.strip() else {}
    return await _case_step(
        request, web, case_id, csrf, "intake", "/withdraw", body, "withdraw", "?notice=withdrawn"
    )


@router.post("/{case_id}/consent/withdraw")
async def withdraw_consent(
    case_id: str,
    request: Request,
    web: WebDep,
    csrf: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """The parent or guardian takes back the consent they gave: the review stops."""
    body = {"reason": reason.strip()} if reason.strip() else {}
    return await _case_step(
        request,
        web,
        case_id,
        csrf,
        "intake",
        "/consent/withdraw",
        body,
        "consent",
        "?notice=consent-withdrawn",
    )


@router.post("/{case_id}/erasure")
async def ask_erasure(
    case_id: str,
    request: Request,
    web: WebDep,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """The parent or guardian asks that the child's personal data be erased everywhere; the
    intake team approves or refuses."""
    return await _case_step(
        request,
        web,
        case_id,
        csrf,
        "intake",
        "/erasure",
        {"reason": "family-request"},
        "erasure",
        "?notice=erasure-asked",
    )


@router.get("/{case_id}/report.{fmt}")
async def report_file(case_id: str, fmt: str, request: Request, web: WebDep) -> Response:
    """The issued report as the family reads it (HTML) or keeps it (PDF)."""
    who = _case_person(request, web, case_id)
    if isinstance(who, Response):
        return who
    if fmt not in ("html", "pdf"):
        return problem_page(request, BackendError(404, "not_found", ""))
    path = f"/cases/{case_id}/report/latest/report.{fmt}"
    return await pass_on_download(request, web, "reports", path, who.token)


async def pass_on_download(
    request: Request, web: Web, service: Any, path: str, token: str
) -> Response:
    try:
        download = await web.backends.download(service, path, token=token)
    except BackendError as error:
        return problem_page(request, error)
    kept = ("content-type", "content-length", "content-disposition", "etag")
    headers = {k: v for k, v in download.headers.items() if k.lower() in kept}
    headers["cache-control"] = "private, no-store"
    headers["x-content-type-options"] = "nosniff"
    # The report's HTML is our own rendering; it still runs no script and loads nothing else.
    headers["content-security-policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    )

    async def chunks() -> Any:
        try:
            async for chunk in download.chunks:
                yield chunk
        finally:
            await download.close()

    return StreamingResponse(chunks(), status_code=download.status, headers=headers)


@router.post("/{case_id}/follow-ups")
async def ask_follow_up(
    case_id: str,
    request: Request,
    web: WebDep,
    csrf: Annotated[str, Form()] = "",
    question: Annotated[str, Form()] = "",
) -> Response:
    body = {"question": question.strip()}
    return await _case_step(
        request,
        web,
        case_id,
        csrf,
        "reports",
        "/report/follow-ups",
        body,
        "follow-ups",
        "?notice=asked#follow-ups",
    )


@router.post("/{case_id}/consults")
async def ask_for_consult(
    case_id: str,
    request: Request,
    web: WebDep,
    csrf: Annotated[str, Form()] = "",
    attendees: Annotated[str, Form()] = "family",
    preferred_times: Annotated[str, Form()] = "",
    interpreter_language: Annotated[str, Form()] = "",
) -> Response:
    """Ask intake for a video consult with the expert, in the person's own time zone."""
    body: dict[str, Any] = {
        "kind": "video",
        "attendees": attendees,
        "interpreter_needed": bool(interpreter_language.strip()),
    }
    if preferred_times.strip():
        body["preferred_times"] = preferred_times.strip()
    if interpreter_language.strip():
        body["interpreter_language"] = interpreter_language.strip().lower()
    zone = time_zone_of(request)
    if str(zone) != "UTC":
        body["time_zone"] = str(zone)
    return await _consult_step(request, web, case_id, csrf, "/consults", body, "consult-asked")


@router.post("/{case_id}/consults/{consult_id}/confirm")
async def choose_consult_time(
    case_id: str,
    consult_id: str,
    request: Request,
    web: WebDep,
    csrf: Annotated[str, Form()] = "",
    start: Annotated[str, Form()] = "",
) -> Response:
    """The time the family chose among those the intake team offered."""
    path = f"/consults/{consult_id}/confirm"
    return await _consult_step(
        request, web, case_id, csrf, path, {"start": start}, "consult-confirmed"
    )


async def _consult_step(
    request: Request,
    web: Web,
    case_id: str,
    csrf: str,
    path: str,
    body: dict[str, Any],
    notice: str,
) -> Response:
    done = f"?notice={notice}#consult"
    return await _case_step(request, web, case_id, csrf, "intake", path, body, "consult", done)


async def _case_step(
    request: Request,
    web: Web,
    case_id: str,
    csrf: str,
    service: Any,
    path: str,
    body: dict[str, Any],
    anchor: str,
    done: str,
) -> Response:
    """One POST the case page makes with the person's link: back to the page (`done`) or, when
    refused, a page saying why with a way back to its section (`anchor`)."""
    who = _case_person(request, web, case_id)
    if isinstance(who, Response):
        return who
    if not web.sessions.csrf_ok(request, csrf):
        return redirect(f"/c/{case_id}?notice=csrf#{anchor}")
    try:
        await web.backends.call(
            "POST",
            service,
            f"/cases/{case_id}{path}",
            token=who.token,
            json=body,
            # Intake's consent record keeps where a withdrawal came from (it trusts this header
            # from the web front door only); the other services ignore it.
            headers={
                "X-Forwarded-For": request.client.host if request.client else "unknown",
                "User-Agent": request.headers.get("user-agent", "")[:200],
            },
        )
    except BackendError as error:
        if error.status == 401:
            return problem_page(request, error)
        return render(
            request,
            "problem.html",
            status_code=error.status,
            message=sentence(request, error),
            back=f"/c/{case_id}#{anchor}",
        )
    return redirect(f"/c/{case_id}{done}")
