"""The staff board's routes: the page, a case's detail, sign-in, and the live event stream."""

from __future__ import annotations

import time
from typing import Annotated

import jwt
from fastapi import APIRouter, Form, Header, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from services.notify.deps import (
    BOARD_ROLES,
    COOKIE,
    COOKIE_PATH,
    TIMELINE_READERS,
    BoardViewer,
    Ports,
    verify,
)
from services.notify.hub import sse_stream
from shared.errors import ApiError

router = APIRouter(prefix="/board", tags=["board"])
SESSION_MAX_S = 8 * 3600
NO_STORE = {"cache-control": "no-store"}


def _to_login() -> RedirectResponse:
    return RedirectResponse("/board/login", status_code=303)


@router.get("", response_class=HTMLResponse)
async def board_page(
    request: Request,
    viewer: BoardViewer,
    ports: Ports,
    specialty: str = "",
    expert: str = "",
    access_token: str | None = None,
) -> Response:
    """The board: open cases in columns by stage, urgent and at-risk marked."""
    if access_token:
        # A link carrying a token: keep it in the cookie and drop it from the address bar.
        return _signed_in(request, access_token) or _to_login()
    if viewer is None:
        return _to_login()
    query: dict[str, object] = {"status": {"$ne": "cancelled"}}
    if viewer.role == "expert":
        query["expert_id"] = viewer.subject
    # Read before the cases, so nothing that changes while the page loads is missed.
    since = ports.hub.last_id
    timelines = await ports.store.list_timelines(query, limit=1000)
    html = ports.board.board(
        timelines, specialty=specialty, expert=expert, principal=viewer, since=since
    )
    return HTMLResponse(html, headers=NO_STORE)


@router.get("/cases/{case_id}", response_class=HTMLResponse)
async def case_page(case_id: str, viewer: BoardViewer, ports: Ports) -> Response:
    """One case with its timeline."""
    if viewer is None:
        return _to_login()
    if viewer.role not in TIMELINE_READERS | {"expert"}:
        raise ApiError(403, "forbidden", "only intake staff and experts may read case timelines")
    timeline = await ports.store.get_timeline(case_id)
    # Another expert's case answers as if it did not exist.
    hidden = (
        viewer.role == "expert" and timeline is not None and timeline.expert_id != viewer.subject
    )
    if timeline is None or hidden:
        raise ApiError(404, "not_found", f"case {case_id} is not on the board")
    settings = ports.settings
    template = (
        settings.expert_link_template
        if viewer.role == "expert"
        else settings.staff_case_link_template
    )
    work_link = template.format(case_id=case_id)
    html = ports.board.case(timeline, principal=viewer, work_link=work_link)
    return HTMLResponse(html, headers=NO_STORE)


@router.get("/events")
async def board_events(
    viewer: BoardViewer,
    ports: Ports,
    last_event_id: Annotated[str | None, Header()] = None,
    since: str | None = None,
) -> StreamingResponse:
    """Server-Sent Events: one `case` event per changed case; resumes from Last-Event-ID
    (or, on a page's first connection, from `since`, the id the page was rendered at)."""
    if viewer is None:
        raise ApiError(401, "unauthenticated", "sign in to the board first")
    audience = viewer.subject if viewer.role == "expert" else None
    subscriber = ports.hub.subscribe(last_event_id or since, audience=audience)
    stream = sse_stream(ports.hub, subscriber, keepalive_s=ports.settings.board_keepalive_s)
    headers = {**NO_STORE, "x-accel-buffering": "no"}
    return StreamingResponse(stream, media_type="text/event-stream", headers=headers)


@router.get("/login", response_class=HTMLResponse)
async def login_page(ports: Ports) -> HTMLResponse:
    """The sign-in form."""
    return HTMLResponse(ports.board.login(), headers=NO_STORE)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, ports: Ports, token: Annotated[str, Form()]) -> Response:
    """Exchange a staff token for the board's cookie."""
    signed_in = _signed_in(request, token.strip())
    if signed_in is None:
        error = "That token is not valid for the staff board."
        return HTMLResponse(ports.board.login(error=error), status_code=401, headers=NO_STORE)
    return signed_in


@router.post("/logout")
async def logout() -> RedirectResponse:
    """Forget the board cookie."""
    response = _to_login()
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response


def _signed_in(request: Request, token: str) -> RedirectResponse | None:
    try:
        principal = verify(request, token)
    except ApiError:
        return None
    if principal.role not in BOARD_ROLES:
        return None
    expires = int(jwt.decode(token, options={"verify_signature": False}).get("exp", 0))
    max_age = max(0, min(expires - int(time.time()), SESSION_MAX_S))
    ports = request.app.state.notify
    response = RedirectResponse("/board", status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=ports.settings.stack.sop_environment == "production",
    )
    return response
