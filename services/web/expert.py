"""The expert's pages: offers to accept, their cases, and the workspace with the report editor."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import FormData

from services.web.app_headers import CSP
from services.web.backends import BackendError
from services.web.family import pass_on_download
from services.web.session import Person
from services.web.web import (
    Web,
    WebDep,
    json_refusal,
    problem_page,
    redirect,
    render,
    sentence,
    signed_in,
)

router = APIRouter(prefix="/expert")
CONCORDANCE = ("confirmed", "refined", "changed")
PLAN_CHANGES = ("none", "modified", "changed")
BLANK_TRIALS = 1
BLANK_LIMITATIONS = 1


def expert_person(request: Request, web: Web) -> Person | Response:
    return signed_in(request, web, ("expert",))


@router.get("")
async def home(request: Request, web: WebDep) -> Response:
    return redirect("/expert/offers")


@router.get("/offers")
async def offers(request: Request, web: WebDep) -> Response:
    """Open offers with why they were made, then the expert's cases with their due dates."""
    who = expert_person(request, web)
    if isinstance(who, Response):
        return who
    try:
        open_offers, reports = await asyncio.gather(
            web.backends.call(
                "GET", "assignment", "/offers", token=who.token, params={"status": "open"}
            ),
            web.backends.call("GET", "reports", "/reports", token=who.token),
        )
    except BackendError as error:
        return problem_page(request, error)
    return render(
        request,
        "expert_offers.html",
        offers=open_offers,
        reports=reports,
        notice=request.query_params.get("notice", ""),
    )


@router.post("/offers/{offer_id}/{decision}")
async def decide_offer(offer_id: str, decision: str, request: Request, web: WebDep) -> Response:
    who = expert_person(request, web)
    if isinstance(who, Response):
        return who
    form = await request.form()
    if decision not in ("accept", "decline") or not web.sessions.csrf_ok(
        request, str(form.get("csrf", ""))
    ):
        return redirect("/expert/offers?notice=csrf")
    body = {"reason": str(form.get("reason", "")).strip()} if decision == "decline" else None
    try:
        offer = await web.backends.call(
            "POST", "assignment", f"/offers/{offer_id}/{decision}", token=who.token, json=body
        )
    except BackendError as error:
        return render(
            request,
            "problem.html",
            status_code=error.status,
            message=sentence(request, error),
            back="/expert/offers",
        )
    if decision == "accept":
        return redirect(f"/expert/cases/{offer['case_id']}?notice=accepted")
    return redirect("/expert/offers?notice=declined")


@router.get("/cases/{case_id}")
async def workspace(case_id: str, request: Request, web: WebDep) -> Response:
    """The records, the images, the report editor and the follow-up questions of one case."""
    who = expert_person(request, web)
    if isinstance(who, Response):
        return who
    try:
        draft = await _draft_or_none(web, case_id, who.token)
        report = None
        if draft is None:
            report = await web.backends.call(
                "GET", "reports", f"/cases/{case_id}/report", token=who.token
            )
    except BackendError as error:
        if error.status == 404 and request.query_params.get("notice") == "accepted":
            # The reports service learns of the acceptance from Kafka a moment later.
            return render(request, "preparing.html", case_id=case_id)
        return problem_page(request, error)
    sections = draft["sections"] if draft else {}
    return render(
        request,
        "expert_case.html",
        case_id=case_id,
        draft=draft,
        report=report,
        sections=sections,
        trials=[*sections.get("trials", []), *([{}] * BLANK_TRIALS)],
        limitations=[*sections.get("records_limitations", []), *([{}] * BLANK_LIMITATIONS)],
        concordance=CONCORDANCE,
        plan_changes=PLAN_CHANGES,
        notice=request.query_params.get("notice", ""),
        error=request.query_params.get("error", ""),
        error_field=request.query_params.get("field", ""),
    )


async def _draft_or_none(web: Web, case_id: str, token: str) -> Any:
    try:
        return await web.backends.call(
            "GET", "reports", f"/cases/{case_id}/report/draft", token=token
        )
    except BackendError as error:
        if error.status == 404 and error.code == "draft_not_found":
            return None
        raise


@router.post("/cases/{case_id}/draft")
async def save_draft(case_id: str, request: Request, web: WebDep) -> Response:
    """Save the editor (the whole form, or the fields autosave sends). JSON for autosave."""
    wants_json = "application/json" in request.headers.get("accept", "")
    who = expert_person(request, web)
    if isinstance(who, Response):
        return json_refusal(401, "unauthenticated", "") if wants_json else who
    form = await request.form()
    if not web.sessions.csrf_ok(request, str(form.get("csrf", ""))):
        return json_refusal(403, "csrf", "") if wants_json else redirect(f"/expert/cases/{case_id}")
    body = draft_update(form)
    try:
        draft = await web.backends.call(
            "PATCH", "reports", f"/cases/{case_id}/report/draft", token=who.token, json=body
        )
    except BackendError as error:
        if wants_json:
            return json_refusal(error.status, error.code, sentence(request, error))
        return redirect(
            f"/expert/cases/{case_id}?error={error.code}&field={error.field or ''}#editor"
        )
    if wants_json:
        return JSONResponse({"revision": draft["revision"], "saved_at": draft["saved_at"]})
    if form.get("then") == "sign":
        return await _sign(request, web, who, case_id, draft["revision"])
    return redirect(f"/expert/cases/{case_id}?notice=saved#editor")


def draft_update(form: FormData) -> dict[str, Any]:
    """The editor's fields as the reports API's draft update: only the sections the form sent,
    and within a section only its fields that were sent (the service merges them field by
    field, so autosaving one field never blanks another)."""

    def value(name: str) -> str | None:
        raw = form.get(name)
        return None if raw is None else str(raw)

    body: dict[str, Any] = {"revision": int(str(form.get("revision", "1")) or 1)}
    if (summary := value("summary")) is not None:
        body["summary"] = summary
    for section, names in (
        ("diagnosis", ("concordance", "original_diagnosis", "proposed_diagnosis", "discussion")),
        ("treatment", ("plan_change", "recommendations")),
    ):
        fields = {n: value(f"{section}.{n}") for n in names}
        sent: dict[str, str | None] = {n: v for n, v in fields.items() if v is not None}
        for choice in ("concordance", "plan_change"):
            if sent.get(choice) == "":
                sent[choice] = None
        if sent:
            body[section] = sent
    answers = {
        str(key).removeprefix("answers."): str(text)
        for key, text in form.multi_items()
        if str(key).startswith("answers.")
    }
    if answers:
        body["answers"] = answers
    if (follow_up := value("follow_up")) is not None:
        body["follow_up"] = [line.strip() for line in follow_up.splitlines() if line.strip()]
    if "trials.nct_id" in form:
        rows = zip(
            form.getlist("trials.nct_id"),
            form.getlist("trials.title"),
            form.getlist("trials.why_it_may_fit"),
            strict=False,
        )
        body["trials"] = [
            {"nct_id": str(n).strip(), "title": str(t), "why_it_may_fit": str(w)}
            for n, t, w in rows
            if str(n).strip()
        ]
    if "limitations.item" in form:
        rows = zip(
            form.getlist("limitations.item"),
            form.getlist("limitations.problem"),
            form.getlist("limitations.how_it_limits"),
            strict=False,
        )
        body["records_limitations"] = [
            {"item": str(i).strip(), "problem": str(p) or "missing", "how_it_limits": str(h)}
            for i, p, h in rows
            if str(i).strip()
        ]
    if (change := value("change_summary")) is not None:
        body["change_summary"] = change
    return body


async def _sign(request: Request, web: Web, who: Person, case_id: str, revision: int) -> Response:
    try:
        await web.backends.call(
            "POST",
            "reports",
            f"/cases/{case_id}/report/sign",
            token=who.token,
            json={"revision": revision},
        )
    except BackendError as error:
        return redirect(
            f"/expert/cases/{case_id}?error={error.code}&field={error.field or ''}#editor"
        )
    return redirect(f"/expert/cases/{case_id}?notice=signed")


@router.post("/cases/{case_id}/amend")
async def amend(case_id: str, request: Request, web: WebDep) -> Response:
    who = expert_person(request, web)
    if isinstance(who, Response):
        return who
    form = await request.form()
    if not web.sessions.csrf_ok(request, str(form.get("csrf", ""))):
        return redirect(f"/expert/cases/{case_id}")
    try:
        await web.backends.call(
            "POST", "reports", f"/cases/{case_id}/report/amendments", token=who.token
        )
    except BackendError as error:
        return redirect(f"/expert/cases/{case_id}?error={error.code}")
    return redirect(f"/expert/cases/{case_id}#editor")


@router.post("/cases/{case_id}/follow-ups/{follow_up_id}")
async def answer_follow_up(
    case_id: str, follow_up_id: str, request: Request, web: WebDep
) -> Response:
    return await _follow_up_step(
        request, web, case_id, follow_up_id, "answer", lambda form: {"answer": form("answer")}
    )


@router.post("/cases/{case_id}/follow-ups/{follow_up_id}/close")
async def close_follow_up(
    case_id: str, follow_up_id: str, request: Request, web: WebDep
) -> Response:
    """Close a question without a written answer (answered by telephone, out of scope)."""
    return await _follow_up_step(
        request, web, case_id, follow_up_id, "close", lambda form: {"reason": form("reason")}
    )


async def _follow_up_step(
    request: Request,
    web: Web,
    case_id: str,
    follow_up_id: str,
    step: str,
    body: Callable[[Callable[[str], str]], dict[str, str]],
) -> Response:
    """Answer or close one question with the expert's own token; back to the questions."""
    who = expert_person(request, web)
    if isinstance(who, Response):
        return who
    form = await request.form()
    if not web.sessions.csrf_ok(request, str(form.get("csrf", ""))):
        return redirect(f"/expert/cases/{case_id}#follow-ups")
    try:
        await web.backends.call(
            "POST",
            "reports",
            f"/cases/{case_id}/report/follow-ups/{follow_up_id}/{step}",
            token=who.token,
            json=body(lambda name: str(form.get(name, "")).strip()),
        )
    except BackendError as error:
        return redirect(f"/expert/cases/{case_id}?error={error.code}#follow-ups")
    return redirect(f"/expert/cases/{case_id}?notice=answered#follow-ups")


@router.get("/cases/{case_id}/preview")
async def preview(case_id: str, request: Request, web: WebDep) -> Response:
    who = expert_person(request, web)
    if isinstance(who, Response):
        return who
    path = f"/cases/{case_id}/report/draft/preview"
    return await pass_on_download(request, web, "reports", path, who.token)


@router.get("/cases/{case_id}/documents/{document_id}")
async def document(case_id: str, document_id: str, request: Request, web: WebDep) -> Response:
    who = expert_person(request, web)
    if isinstance(who, Response):
        return who
    path = f"/cases/{case_id}/documents/{document_id}"
    return await pass_on_download(request, web, "records", path, who.token)


@router.get("/cases/{case_id}/report.{fmt}")
async def issued_report(case_id: str, fmt: str, request: Request, web: WebDep) -> Response:
    who = expert_person(request, web)
    if isinstance(who, Response):
        return who
    if fmt not in ("html", "pdf"):
        return problem_page(request, BackendError(404, "not_found", ""))
    path = f"/cases/{case_id}/report/latest/report.{fmt}"
    return await pass_on_download(request, web, "reports", path, who.token)


# dwv is an ES module that imports konva, jszip and magic-wand-tool by name; the page maps the
# names to shims of the UMD builds. An import map must be inline, so the page's CSP names its hash.
IMPORT_MAP = json.dumps(
    {
        "imports": {
            "konva": "/static/shims/konva.js",
            "jszip": "/static/shims/jszip.js",
            "magic-wand-tool": "/static/shims/magic-wand-tool.js",
        }
    }
)
IMPORT_MAP_HASH = base64.b64encode(hashlib.sha256(IMPORT_MAP.encode()).digest()).decode()
VIEWER_CSP = CSP.replace("script-src 'self'", f"script-src 'self' 'sha256-{IMPORT_MAP_HASH}'")
SERIES_UID, INSTANCE_UID, INSTANCE_NUMBER, MODALITY, DESCRIPTION = (
    "0020000E",
    "00080018",
    "00200013",
    "00080060",
    "0008103E",
)


def _tag(item: dict[str, Any], tag: str) -> Any:
    values = item.get(tag, {}).get("Value") or [None]
    return values[0]


@router.get("/cases/{case_id}/studies/{study_uid}")
async def viewer(
    case_id: str, study_uid: str, request: Request, web: WebDep, series: str = ""
) -> Response:
    """A study in the viewer: its series to choose from, the chosen one's slices in order."""
    who = expert_person(request, web)
    if isinstance(who, Response):
        return who
    base = f"/dicomweb/studies/{study_uid}"
    try:
        found = await web.backends.call("GET", "records", f"{base}/series", token=who.token)
        chosen = series or (str(_tag(found[0], SERIES_UID)) if found else "")
        instances = []
        if chosen:
            path = f"{base}/series/{chosen}/instances"
            instances = await web.backends.call("GET", "records", path, token=who.token)
    except BackendError as error:
        return problem_page(request, error)
    instances.sort(key=lambda item: _tag(item, INSTANCE_NUMBER) or 0)
    here = f"/expert/cases/{case_id}/studies/{study_uid}"
    urls = [f"{here}/series/{chosen}/instances/{_tag(i, INSTANCE_UID)}" for i in instances]
    page = render(
        request,
        "viewer.html",
        case_id=case_id,
        study_uid=study_uid,
        series=[
            {
                "uid": _tag(s, SERIES_UID),
                "modality": _tag(s, MODALITY) or "",
                "description": _tag(s, DESCRIPTION) or "",
            }
            for s in found
        ],
        chosen=chosen,
        urls=json.dumps(urls).replace("</", "<\\/"),
        import_map=IMPORT_MAP,
    )
    page.headers["content-security-policy"] = VIEWER_CSP
    return page


@router.get("/cases/{case_id}/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}")
async def instance(
    case_id: str, study_uid: str, series_uid: str, sop_uid: str, request: Request, web: WebDep
) -> Response:
    """One instance as a DICOM file for the viewer (WADO-RS answers multipart; unwrapped here)."""
    who = expert_person(request, web)
    if isinstance(who, Response):
        return who
    path = f"/dicomweb/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}"
    try:
        download = await web.backends.download("records", path, token=who.token)
        try:
            body = b"".join([chunk async for chunk in download.chunks])
        finally:
            await download.close()
    except BackendError as error:
        return problem_page(request, error)
    part = first_part(body, download.headers.get("content-type", ""))
    if part is None:
        return problem_page(request, BackendError(502, "other", ""))
    return Response(
        part,
        media_type="application/dicom",
        headers={"cache-control": "private, no-store", "x-content-type-options": "nosniff"},
    )


def first_part(body: bytes, content_type: str) -> bytes | None:
    """The body of the first part of a multipart/related answer (one instance)."""
    marker = "boundary="
    if marker not in content_type:
        return body if content_type.startswith("application/dicom") else None
    boundary = content_type.split(marker, 1)[1].split(";")[0].strip().strip('"').encode()
    start = body.find(b"--" + boundary)
    if start < 0:
        return None
    headers_end = body.find(b"\r\n\r\n", start)
    end = body.find(b"\r\n--" + boundary, headers_end)
    if headers_end < 0 or end < 0:
        return None
    return body[headers_end + 4 : end]
