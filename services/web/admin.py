"""The administrator's pages: the expert roster and the partner feeds."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.web.backends import BackendError
from services.web.session import Person
from services.web.web import (
    Web,
    WebDep,
    field_errors,
    problem_page,
    redirect,
    render,
    sentence,
    signed_in,
)

router = APIRouter(prefix="/admin")
PARTNER_EVENTS = ("report.issued", "expert.assigned", "records.ready")


def admin_person(request: Request, web: Web) -> Person | Response:
    return signed_in(request, web, ("admin",))


@router.get("")
async def admin_home(request: Request, web: WebDep) -> Response:
    who = admin_person(request, web)
    if isinstance(who, Response):
        return who
    return await _page(request, web, who)


async def _page(
    request: Request, web: Web, who: Person, *, status_code: int = 200, **extra: Any
) -> Response:
    try:
        experts, partners = await asyncio.gather(
            web.backends.call("GET", "assignment", "/experts", token=who.token),
            web.backends.call("GET", "notify", "/partners", token=who.token),
        )
    except BackendError as error:
        return problem_page(request, error)
    return render(
        request,
        "admin.html",
        status_code=status_code,
        experts=experts,
        partners=partners,
        partner_events=PARTNER_EVENTS,
        notice=request.query_params.get("notice", ""),
        errors=extra.pop("errors", {}),
        values=extra.pop("values", {}),
        **extra,
    )


@router.post("/experts/{expert_id}")
async def save_expert(expert_id: str, request: Request, web: WebDep) -> Response:
    """Capacity, languages, leave and whether the expert takes cases, from the roster table."""
    who = admin_person(request, web)
    if isinstance(who, Response):
        return who
    form = await request.form()
    if not web.sessions.csrf_ok(request, str(form.get("csrf", ""))):
        return redirect("/admin")
    try:
        expert = await web.backends.call(
            "GET", "assignment", f"/experts/{expert_id}", token=who.token
        )
        profile = {k: v for k, v in expert.items() if k != "expert_id"}
        profile["capacity"] = str(form.get("capacity", profile["capacity"])).strip()
        languages = str(form.get("languages", "")).replace(" ", "").split(",")
        profile["languages"] = [lang for lang in languages if lang] or profile["languages"]
        profile["active"] = form.get("active") == "yes"
        start, end = str(form.get("leave_from", "")), str(form.get("leave_to", ""))
        profile["leave"] = [{"start": start, "end": end}] if start and end else []
        await web.backends.call(
            "PUT", "assignment", f"/experts/{expert_id}", token=who.token, json=profile
        )
    except BackendError as error:
        errors = {f"{expert_id}.{k}": v for k, v in field_errors(request, error).items()}
        errors[expert_id] = sentence(request, error)
        return await _page(request, web, who, status_code=error.status, errors=errors)
    return redirect(f"/admin?notice=saved#expert-{expert_id}")


@router.post("/partners")
async def register_partner(request: Request, web: WebDep) -> Response:
    who = admin_person(request, web)
    if isinstance(who, Response):
        return who
    form = await request.form()
    if not web.sessions.csrf_ok(request, str(form.get("csrf", ""))):
        return redirect("/admin")
    values = {
        k: str(form.get(k, "")).strip() for k in ("partner_id", "name", "organization_id", "url")
    }
    body = {**values, "event_types": [str(e) for e in form.getlist("event_types")]}
    try:
        created = await web.backends.call("POST", "notify", "/partners", token=who.token, json=body)
    except BackendError as error:
        errors = {f"partner.{k}": v for k, v in field_errors(request, error).items()}
        errors["partner"] = sentence(request, error)
        return await _page(
            request, web, who, status_code=error.status, errors=errors, values=values
        )
    return await _page(request, web, who, created=created)


@router.post("/partners/{partner_id}/{action}")
async def manage_partner(partner_id: str, action: str, request: Request, web: WebDep) -> Response:
    """Enable, disable (with a reason), rotate the signing secret, or delete a partner feed."""
    who = admin_person(request, web)
    if isinstance(who, Response):
        return who
    form = await request.form()
    if not web.sessions.csrf_ok(request, str(form.get("csrf", ""))):
        return redirect("/admin")
    calls: dict[str, tuple[str, str, Any]] = {
        "enable": ("POST", f"/partners/{partner_id}/enable", None),
        "disable": (
            "POST",
            f"/partners/{partner_id}/disable",
            {"reason": str(form.get("reason", "")).strip() or "disabled by an administrator"},
        ),
        "secret": ("POST", f"/partners/{partner_id}/secret", None),
        "delete": ("DELETE", f"/partners/{partner_id}", None),
    }
    if action not in calls:
        return problem_page(request, BackendError(404, "not_found", ""))
    method, path, body = calls[action]
    try:
        answer = await web.backends.call(method, "notify", path, token=who.token, json=body)
    except BackendError as error:
        return render(
            request, "problem.html", status_code=error.status, message=sentence(request, error)
        )
    if action == "secret":
        return await _page(request, web, who, created=answer)
    return redirect("/admin?notice=saved#partners")
