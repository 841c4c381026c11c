"""What every page needs: the person, their language and time zone, rendering, and refusals."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.web.backends import BackendError, Backends
from services.web.config import WebSettings
from services.web.i18n import LANGUAGE_NAMES, LANGUAGES, pick_language, sentence_for, translator
from services.web.session import LANGUAGE_COOKIE, TIME_ZONE_COOKIE, Person, Sessions

TEMPLATES = Path(__file__).parent / "templates"
NO_STORE = {"cache-control": "no-store"}
STAFF_ROLES = frozenset({"intake-staff", "admin"})


@dataclass
class Web:
    settings: WebSettings
    backends: Backends
    sessions: Sessions
    templates: Environment


def create_templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def web_of(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


WebDep = Annotated[Web, Depends(web_of)]


def language_of(request: Request) -> str:
    return pick_language(
        request.query_params.get("lang"),
        request.cookies.get(LANGUAGE_COOKIE),
        request.headers.get("accept-language"),
    )


def time_zone_of(request: Request) -> ZoneInfo:
    name = request.cookies.get(TIME_ZONE_COOKIE) or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def render(
    request: Request,
    template: str,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    web = web_of(request)
    language = language_of(request)
    zone = time_zone_of(request)
    person = context.pop("person", None) or web.sessions.person(request)

    def when(value: str | datetime | None, with_time: bool = True) -> str:
        if not value:
            return ""
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        local = moment.astimezone(zone)
        text = local.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")
        return f"{text} {local.tzname()}" if with_time else text

    page = web.templates.get_template(template).render(
        t=translator(language),
        lang=language,
        languages=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        person=person,
        csrf=web.sessions.csrf_token(request),
        when=when,
        path=request.url.path,
        board_url=web.settings.board_public_url,
        **context,
    )
    response = HTMLResponse(page, status_code=status_code, headers=NO_STORE)
    chosen = request.query_params.get("lang")
    if chosen in LANGUAGES:
        web.sessions.remember(response, LANGUAGE_COOKIE, chosen)
    return response


def sentence(request: Request, error: BackendError) -> str:
    return sentence_for(language_of(request), error.code)


def field_errors(request: Request, error: BackendError, prefix: str = "") -> dict[str, str]:
    """The service's refused fields as sentences, keyed by the form's field names."""
    language = language_of(request)
    errors = {}
    for field, code in error.fields.items():
        name = field.removeprefix(prefix)
        errors[name] = sentence_for(language, code)
    return errors


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=NO_STORE)


def wrong_role(request: Request, person: Person, needed: Iterable[str]) -> HTMLResponse:
    """An explanation instead of a silent bounce: who you are, whom the page is for."""
    t = translator(language_of(request))
    needed_text = " / ".join(_role_name(t, role) for role in needed)
    return render(
        request,
        "wrong_role.html",
        status_code=403,
        role=_role_name(t, person.role),
        needed=needed_text,
    )


def signed_in(request: Request, web: Web, roles: Iterable[str]) -> Person | Response:
    """The signed-in person if their role is one of `roles`; else the sign-in page (no session)
    or the page explaining whom this page is for."""
    person = web.sessions.person(request)
    if person is None:
        return redirect(f"/sign-in?next={request.url.path}")
    if person.role not in roles:
        return wrong_role(request, person, sorted(roles))
    return person


def json_refusal(status: int, code: str, message: str) -> JSONResponse:
    """A refusal for the page's own script (uploads, autosave), in the services' error shape."""
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _role_name(t: Callable[..., str], role: str) -> str:
    key = f"role.{role}"
    text = t(key)
    return text if text != key else t("role.other")


def session_ended(request: Request, *, revoked: bool = False) -> HTMLResponse:
    web = web_of(request)
    response = render(request, "session_ended.html", status_code=401, revoked=revoked)
    web.sessions.end(response)
    return response


def problem_page(request: Request, error: BackendError) -> HTMLResponse:
    """A service refused (or could not answer) a page's read: say so in the person's words."""
    if error.status == 401:
        return session_ended(request, revoked=error.code == "link_revoked")
    status = error.status if 400 <= error.status < 600 else 502
    return render(request, "problem.html", status_code=status, message=sentence(request, error))


Handler = Callable[..., Awaitable[Response]]
