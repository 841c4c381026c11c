"""The audit trail: every request that reads or changes a case's data, allowed or refused, is
recorded and published to the append-only `audit.access` topic (the audit service keeps it).

It is installed around every service's API by `shared.runtime`, so no route can forget it. A
request is audited when it names a case, when it reaches a route at all with a verified caller,
or when it is refused (401, 403, 404): probes, metrics and API docs are not. What is recorded is
ids, the route template and the outcome, never the request's body or a person's details.

An access by another protocol (a PACS's DICOM C-STORE) has no request to wrap: its code writes
its record with `record_access` before it answers, to the same outbox.

A request names its case by a `case_id` path or query parameter, or by whatever identifier its
URL carries (a study UID, a report or offer id): the route resolves that to the case and says so
with `audit_case(request, case_id)`, before deciding whether the caller may see it, so a refused
request is filed under the case too (the caller learns nothing from that).

The record is written to the service's own database before the response starts
(`shared.audit_trail`); a request whose record cannot be written is answered 503, not with
the data.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.audit_trail import AuditTrail
from shared.auth import Principal
from shared.contracts.access_recorded import AccessRecorded, AuditAction, AuditAgent, AuditOutcome
from shared.errors import error_body

log = logging.getLogger(__name__)

CASE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
UNAUDITED_PATHS = ("/healthz", "/readyz", "/metrics", "/docs", "/redoc", "/openapi.json")
# The request state's key for the cases a route resolved (`audit_case`).
AUDITED_CASES = "audited_case_ids"
ACTION_OF_METHOD: Mapping[str, AuditAction] = {
    "GET": "R",
    "HEAD": "R",
    "POST": "C",
    "PUT": "U",
    "PATCH": "U",
    "DELETE": "D",
}
# POSTs that do something to an existing thing rather than create one (FHIR's "E", execute).
EXECUTE_VERBS = ("accept", "decline", "sign", "waive", "triage", "hold", "resume", "cancel")


def audit_outcome(status_code: int) -> AuditOutcome:
    if status_code in (401, 403, 404):
        return "denied"
    return "failed" if status_code >= 400 else "allowed"


def audit_action(method: str, route: str) -> AuditAction:
    last = route.rstrip("/").rsplit("/", 1)[-1]
    if method == "POST" and any(verb in last for verb in EXECUTE_VERBS):
        return "E"
    return ACTION_OF_METHOD.get(method, "E")


def access_record(
    *,
    service: str,
    method: str,
    route: str,
    path_params: Mapping[str, Any],
    case_id: str | None,
    status_code: int,
    principal: Principal | None,
    client: str | None,
    now: datetime,
) -> AccessRecorded:
    """The audit record of one request (pure: the middleware gathers the facts)."""
    agent = AuditAgent(
        subject=principal.subject if principal else "anonymous",
        role=principal.role if principal else "unauthenticated",
        organization=principal.organization if principal else None,
        token_id=principal.token_id if principal else None,
        network_address=client,
    )
    entities = {
        str(name): str(value)[:200]
        for name, value in path_params.items()
        if name != "case_id" and str(value)
    }
    return AccessRecorded(
        case_id=case_id,
        service=service,
        action=audit_action(method, route),
        outcome=audit_outcome(status_code),
        status_code=status_code,
        method=method,
        route=route[:500],
        entities=entities,
        agent=agent,
        recorded_at=now,
    )


async def record_access(
    trail: AuditTrail,
    *,
    protocol: str,
    operation: str,
    case_id: str | None,
    action: AuditAction,
    status_code: int,
    agent: AuditAgent,
    entities: Mapping[str, str],
) -> None:
    """Write the record of one access that came by another protocol than HTTP (a DICOM
    association's C-STORE, say): `operation` stands where the HTTP method does and `protocol`
    where the route does; `status_code` is the HTTP status of the same outcome. Durable once it
    returns; raises when it could not be written."""
    record = AccessRecorded(
        case_id=case_id,
        service=trail.service,
        action=action,
        outcome=audit_outcome(status_code),
        status_code=status_code,
        method=operation,
        route=protocol,
        entities={name: value[:200] for name, value in entities.items() if value},
        agent=agent,
        recorded_at=datetime.now(UTC),
    )
    await trail.record([record])


def audit_case(request: Request, *case_ids: str) -> None:
    """File this request's audit record under these cases (resolved from the URL's identifier)."""
    noted: list[str] = getattr(request.state, AUDITED_CASES, [])
    setattr(request.state, AUDITED_CASES, [*noted, *(c for c in case_ids if c not in noted)])


class AuditMiddleware:
    """ASGI middleware writing the audit records of each audited request before its response
    starts (its status is known then)."""

    def __init__(self, app: ASGIApp, trail: AuditTrail) -> None:
        self.app = app
        self.trail = trail

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(UNAUDITED_PATHS):
            await self.app(scope, receive, send)
            return
        started = False
        refused = False

        async def send_once_recorded(message: Message) -> None:
            nonlocal started, refused
            if refused:
                return  # the app's answer is dropped: a 503 went instead
            if message["type"] == "http.response.start":
                started = True
                if not await self._record(scope, int(message["status"])):
                    refused = True
                    await _send_unavailable(send)
                    return
            await send(message)

        try:
            await self.app(scope, receive, send_once_recorded)
        finally:
            if not started:  # the app raised before answering: the server answers 500
                await self._record(scope, 500)

    async def _record(self, scope: Scope, status_code: int) -> bool:
        """Write the request's records; False when they could not be written."""
        state = scope.get("state") or {}
        principal = state.get("principal")
        principal = principal if isinstance(principal, Principal) else None
        path_params = scope.get("path_params") or {}
        named = [path_params.get("case_id"), _query_case_id(scope), *state.get(AUDITED_CASES, ())]
        case_ids = list(dict.fromkeys(c for c in named if c))
        if not case_ids and principal is None and status_code not in (401, 403, 404):
            return True  # a public route that touched no case
        route = getattr(scope.get("route"), "path", None) or "(no route)"
        client = scope.get("client")
        try:
            records = [
                access_record(
                    service=self.trail.service,
                    method=scope["method"],
                    route=route,
                    path_params=path_params,
                    case_id=case_id,
                    status_code=status_code,
                    principal=principal,
                    client=client[0] if client else None,
                    now=datetime.now(UTC),
                )
                # An id that is no case id is kept as "no case" (the route is still recorded).
                for case_id in dict.fromkeys(
                    c if _valid_case_id(c) else None for c in case_ids or [None]
                )
            ]
        except ValueError as exc:  # never let auditing break a response; say so loudly
            log.error("audit record could not be built", exc_info=exc)
            return True
        try:
            await self.trail.record(records)
        except Exception as exc:
            log.error("audit record could not be written; answering 503", exc_info=exc)
            return False
        return True


async def _send_unavailable(send: Send) -> None:
    body = orjson.dumps(
        error_body("audit_unavailable", "the access could not be recorded; try again")
    )
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", b"1"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _query_case_id(scope: Scope) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("case_id")
    return values[0] if values else None


def _valid_case_id(case_id: object) -> bool:
    return isinstance(case_id, str) and CASE_ID.fullmatch(case_id) is not None
