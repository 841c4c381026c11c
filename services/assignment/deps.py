"""Who may call what: the verified caller, narrowed by role, and the handlers' context.

intake-staff see and steer every case; admin changes the roster and, like intake-staff, reads
it, but sees no case or offer (they carry clinical facts); an expert sees and answers only
their own offers; every other role gets 403 on every route here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from services.assignment.handlers import AssignmentContext
from shared.auth import STAFF_ROLES, Principal
from shared.errors import ApiError


def _principal(request: Request) -> Principal:
    authenticate: Callable[[Request], Principal] = request.app.state.authenticate
    return authenticate(request)


def _staff(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    if principal.role not in STAFF_ROLES:
        raise ApiError(403, "forbidden", "only intake staff and admins may use this route")
    return principal


def _case_team(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    if principal.role != "intake-staff":
        raise ApiError(403, "forbidden", "only intake staff may see and steer cases")
    return principal


def _admin(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    if principal.role != "admin":
        raise ApiError(403, "forbidden", "only admins may change the roster")
    return principal


def _expert(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    if principal.role != "expert":
        raise ApiError(403, "forbidden", "only the expert an offer is for may answer it")
    return principal


def _expert_or_staff(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    if principal.role not in ("expert", "intake-staff"):
        raise ApiError(403, "forbidden", "only experts and intake staff may see offers")
    return principal


def _context(request: Request) -> AssignmentContext:
    context: AssignmentContext = request.app.state.assignment
    return context


Staff = Annotated[Principal, Depends(_staff)]
CaseTeam = Annotated[Principal, Depends(_case_team)]
Admin = Annotated[Principal, Depends(_admin)]
ExpertCaller = Annotated[Principal, Depends(_expert)]
ExpertOrStaff = Annotated[Principal, Depends(_expert_or_staff)]
Context = Annotated[AssignmentContext, Depends(_context)]
