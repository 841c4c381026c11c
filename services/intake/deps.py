"""Who is asking (a bearer token, optional only on the public request form), and the context."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from services.intake import access
from services.intake.handlers import IntakeContext
from services.intake.limits import RateLimiter
from shared.auth import Principal
from shared.errors import ApiError


def _principal(request: Request) -> Principal:
    authenticate: Callable[[Request], Principal] = request.app.state.authenticate
    return authenticate(request)


def _optional_principal(request: Request) -> Principal | None:
    if "authorization" not in request.headers:
        return None
    return _principal(request)


def _staff(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    access.check_role(principal, "manage-cases")
    return principal


def _context(request: Request) -> IntakeContext:
    context: IntakeContext = request.app.state.intake
    return context


def _within_rate(request: Request) -> None:
    limiter: RateLimiter = request.app.state.submission_limiter
    wait = limiter.check(client_address(request))
    if wait is not None:
        raise ApiError(429, "too_many_requests", f"too many requests; retry in {wait} s")


def client_address(request: Request) -> str:
    """Who sent the form: the connecting address, or, when that is a trusted front door (the
    web service, a load balancer), the address it appended to X-Forwarded-For. Without this
    every family behind the web front door would share one rate limit."""
    address = request.client.host if request.client else "unknown"
    trusted: frozenset[str] = request.app.state.trusted_proxies
    forwarded = request.headers.get("x-forwarded-for", "")
    if address in trusted and forwarded:
        return forwarded.split(",")[-1].strip() or address
    return address


Caller = Annotated[Principal, Depends(_principal)]
OptionalCaller = Annotated[Principal | None, Depends(_optional_principal)]
Staff = Annotated[Principal, Depends(_staff)]
Context = Annotated[IntakeContext, Depends(_context)]
WithinRate = Depends(_within_rate)
