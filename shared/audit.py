"""The audit trail: every request that reads or changes a case's data, allowed or refused, is
published to the append-only `audit.access` topic (the audit service keeps it).

It is installed around every service's API by `shared.runtime`, so no route can forget it. A
request is audited when it names a case (a `case_id` path or query parameter), when it reaches
a route at all with a verified caller, or when it is refused (401, 403, 404): probes, metrics
and API docs are not. What is recorded is ids, the route template and the outcome, never the
request's body or a person's details.

Recording never waits on the broker while a request is answered: records go to a bounded
queue that a background task publishes in batches. When the queue is full the request waits
for room rather than losing its record (an audit trail with holes is worth little). A process
stopped while the broker is away keeps the records it could not publish in its own database;
the next process of the service publishes them first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import parse_qs

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import Principal
from shared.bus import EventPublisher, next_batch
from shared.contracts.access_recorded import AccessRecorded, AuditAction, AuditAgent, AuditOutcome
from shared.envelope import CloudEvent, make_event
from shared.metrics import AUDIT_RECORDS
from shared.mongo import Document

log = logging.getLogger(__name__)

CASE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
UNAUDITED_PATHS = ("/healthz", "/readyz", "/metrics", "/docs", "/redoc", "/openapi.json")
NO_CASE = "no-case"
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


class UnsentAuditEvents(Protocol):
    """Where a stopping process leaves the audit events it could not publish (the broker was
    down), for the next process of the service to publish."""

    async def keep(self, events: Sequence[CloudEvent]) -> None: ...
    async def kept(self, limit: int) -> list[CloudEvent]: ...
    async def forget(self, event_ids: Sequence[str]) -> None: ...


class MongoUnsentAuditEvents:
    """`UnsentAuditEvents` in a collection of the service's own database, keyed by event id
    (two processes publishing the same kept event is harmless: the audit store keeps one)."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection

    async def keep(self, events: Sequence[CloudEvent]) -> None:
        docs = [{"_id": e.id, "event": e.model_dump(mode="json")} for e in events]
        with contextlib.suppress(BulkWriteError):  # already kept by an earlier attempt
            await self.collection.insert_many(docs, ordered=False)

    async def kept(self, limit: int) -> list[CloudEvent]:
        docs = await self.collection.find({}).limit(limit).to_list()
        return [CloudEvent.model_validate(doc["event"]) for doc in docs]

    async def forget(self, event_ids: Sequence[str]) -> None:
        await self.collection.delete_many({"_id": {"$in": list(event_ids)}})


class InMemoryUnsentAuditEvents:
    """Fake `UnsentAuditEvents` for unit tests."""

    def __init__(self) -> None:
        self.events: dict[str, CloudEvent] = {}

    async def keep(self, events: Sequence[CloudEvent]) -> None:
        self.events.update((e.id, e) for e in events)

    async def kept(self, limit: int) -> list[CloudEvent]:
        return list(self.events.values())[:limit]

    async def forget(self, event_ids: Sequence[str]) -> None:
        for event_id in event_ids:
            self.events.pop(event_id, None)


class AuditTrail:
    """A bounded queue of audit events and the task that publishes them."""

    def __init__(
        self,
        publisher: EventPublisher,
        *,
        service: str,
        unsent: UnsentAuditEvents | None = None,
        capacity: int = 10_000,
        batch_size: int = 500,
    ) -> None:
        self.publisher = publisher
        self.service = service
        self.unsent = unsent
        self.batch_size = batch_size
        self._queue: asyncio.Queue[CloudEvent] = asyncio.Queue(maxsize=capacity)
        self._in_flight: list[CloudEvent] = []

    async def record(self, record: AccessRecorded) -> None:
        event = make_event(
            record, source=f"/services/{self.service}", subject=record.case_id or NO_CASE
        )
        await self._queue.put(event)
        AUDIT_RECORDS.labels(outcome=record.outcome).inc()

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until stopped, then drain what is queued (a graceful stop loses nothing).
        Stopped or cancelled while the broker is away, it keeps what is unsent in the
        service's database for the next process."""
        try:
            await self._publish_kept(stop)
            while not stop.is_set():
                batch = await next_batch(self._queue, stop, self.batch_size)
                if not batch:
                    break
                await self._publish(batch, stop)
            while not self._queue.empty():
                await self._publish(self._take(self.batch_size), stop)
        except _BrokerAwayAtStop:
            await self._keep_unsent()
        except asyncio.CancelledError:
            await self._keep_unsent()
            raise

    async def _publish_kept(self, stop: asyncio.Event) -> None:
        """What an earlier process could not publish goes first (oldest records first)."""
        while self.unsent is not None:
            kept = await self.unsent.kept(self.batch_size)
            if not kept:
                return
            await self._publish(kept, stop)
            await self.unsent.forget([event.id for event in kept])

    async def _keep_unsent(self) -> None:
        unsent = [*self._in_flight, *self._take(self._queue.qsize())]
        self._in_flight = []
        if not unsent:
            return
        if self.unsent is not None:
            try:
                async with asyncio.timeout(5):
                    await self.unsent.keep(unsent)
                log.warning("audit events kept for the next process", extra={"count": len(unsent)})
                return
            except Exception as exc:
                log.error("audit events could not be kept", exc_info=exc)
        log.error("audit events lost at stop", extra={"count": len(unsent)})

    def _take(self, limit: int) -> list[CloudEvent]:
        batch: list[CloudEvent] = []
        while len(batch) < limit and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    async def _publish(self, batch: list[CloudEvent], stop: asyncio.Event) -> None:
        """Publish, retrying while the broker is away; once stopping, one failure is enough."""
        self._in_flight = batch
        delay = 0.2
        while True:
            try:
                await self.publisher.publish(batch)
                self._in_flight = []
                return
            except Exception as exc:
                if stop.is_set():
                    raise _BrokerAwayAtStop from exc
                log.warning("audit publish failed; retrying", exc_info=exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                delay = min(delay * 2, 10)


class _BrokerAwayAtStop(Exception):
    """The broker refused the audit trail after the process was asked to stop."""


class AuditMiddleware:
    """ASGI middleware recording one audit event per audited request, when its status is known."""

    def __init__(self, app: ASGIApp, trail: AuditTrail) -> None:
        self.app = app
        self.trail = trail

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(UNAUDITED_PATHS):
            await self.app(scope, receive, send)
            return
        status: list[int] = []

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            await self._record(scope, status[0] if status else 500)

    async def _record(self, scope: Scope, status_code: int) -> None:
        state = scope.get("state") or {}
        principal = state.get("principal")
        principal = principal if isinstance(principal, Principal) else None
        path_params = scope.get("path_params") or {}
        case_id = path_params.get("case_id") or _query_case_id(scope)
        if case_id is None and principal is None and status_code not in (401, 403, 404):
            return  # a public route that touched no case (the request form before it exists)
        route = getattr(scope.get("route"), "path", None) or "(no route)"
        client = scope.get("client")
        try:
            record = access_record(
                service=self.trail.service,
                method=scope["method"],
                route=route,
                path_params=path_params,
                case_id=case_id if _valid_case_id(case_id) else None,
                status_code=status_code,
                principal=principal,
                client=client[0] if client else None,
                now=datetime.now(UTC),
            )
        except ValueError as exc:  # never let auditing break a response; say so loudly
            log.error("audit record could not be built", exc_info=exc)
            return
        await self.trail.record(record)


def _query_case_id(scope: Scope) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("case_id")
    return values[0] if values else None


def _valid_case_id(case_id: object) -> bool:
    return isinstance(case_id, str) and CASE_ID.fullmatch(case_id) is not None
