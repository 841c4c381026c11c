"""Who is asking, and what the routes share.

The JSON API takes `Authorization: Bearer`. The board's pages and its event stream take the
same token from the `sop_board` cookie, because a browser's EventSource cannot send headers:
`/board/login` (a pasted token, or `/board?access_token=` from a link) verifies the token once
and stores it in an HTTP-only, SameSite=Strict cookie scoped to `/board` that expires with the
token (at most eight hours). The token is verified again on every request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from services.notify.board_view import BoardRenderer
from services.notify.config import NotifySettings
from services.notify.dispatcher import Dispatcher
from services.notify.handlers import NotifyContext
from services.notify.hub import BoardHub
from services.notify.store import NotifyStore
from shared.auth import STAFF_ROLES, Principal, Role, TokenVerifier
from shared.errors import ApiError

COOKIE = "sop_board"
# Staff see every case; an expert sees the cases assigned to them.
# Cards name initials, age, specialty and stage: not for admin, who sees no clinical content.
BOARD_ROLES = frozenset({"intake-staff", "expert"})
# A case's timeline is clinical content: admin (roster, partners) is staff but may not read it.
TIMELINE_READERS: frozenset[Role] = frozenset({"intake-staff"})
COOKIE_PATH = "/board"


@dataclass
class NotifyPorts:
    """What the routes use; set on `app.state.notify` by `create_app`."""

    ctx: NotifyContext
    store: NotifyStore
    hub: BoardHub
    dispatcher: Dispatcher
    board: BoardRenderer
    settings: NotifySettings
    verifier: TokenVerifier


def ports(request: Request) -> NotifyPorts:
    found: NotifyPorts = request.app.state.notify
    return found


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.cookies.get(COOKIE) or None


def verify(request: Request, token: str) -> Principal:
    principal = ports(request).verifier.verify(token)
    request.state.principal = principal
    return principal


def caller(request: Request) -> Principal:
    token = bearer_token(request)
    if token is None:
        raise ApiError(401, "unauthenticated", "send an Authorization: Bearer token")
    return verify(request, token)


def staff(principal: Annotated[Principal, Depends(caller)]) -> Principal:
    if principal.role not in STAFF_ROLES:
        raise ApiError(403, "forbidden", "only intake staff and admins may use this route")
    return principal


def timeline_reader(principal: Annotated[Principal, Depends(caller)]) -> Principal:
    if principal.role not in TIMELINE_READERS:
        raise ApiError(403, "forbidden", "only intake staff may read case timelines")
    return principal


def admin(principal: Annotated[Principal, Depends(caller)]) -> Principal:
    if principal.role != "admin":
        raise ApiError(403, "forbidden", "only admins may use this route")
    return principal


def board_viewer(request: Request) -> Principal | None:
    """The staff member behind the cookie, or None (the page then sends them to sign in)."""
    token = bearer_token(request)
    if token is None:
        return None
    try:
        principal = verify(request, token)
    except ApiError:
        return None
    # Signed in, but in a role the board is not for: refused, not asked to sign in again.
    if principal.role not in BOARD_ROLES:
        raise ApiError(403, "forbidden", "only intake staff and experts may use the board")
    return principal


Ports = Annotated[NotifyPorts, Depends(ports)]
Caller = Annotated[Principal, Depends(caller)]
Staff = Annotated[Principal, Depends(staff)]
TimelineReader = Annotated[Principal, Depends(timeline_reader)]
Admin = Annotated[Principal, Depends(admin)]
BoardViewer = Annotated[Principal | None, Depends(board_viewer)]
