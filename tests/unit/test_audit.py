"""The audit trail: which requests are recorded, with what, and how they read as AuditEvents."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import httpx
from fastapi import Depends, FastAPI, Request
from starlette.types import Message

from services.audit.api import create_app as create_audit_app
from services.audit.domain import as_fhir_audit_event
from shared.audit import (
    AuditMiddleware,
    access_record,
    audit_action,
    audit_case,
    audit_outcome,
    record_access,
)
from shared.audit_trail import AuditTrail, InMemoryAuditOutbox
from shared.auth import Principal, Role
from shared.bus import InMemoryEventPublisher, OutgoingRecord, next_batch
from shared.contracts import AccessRecorded, decode_payload, payload_as
from shared.contracts.access_recorded import AuditAgent
from shared.envelope import CloudEvent, decode
from shared.errors import ApiError, install_error_handlers
from shared.settings import StackSettings

FAMILY = Principal(subject="family-1", role="guardian", case_ids=frozenset({"c1"}), token_id="t1")


def test_outcomes_and_actions_follow_the_status_and_the_verb() -> None:
    assert [audit_outcome(s) for s in (200, 201, 401, 403, 404, 409, 500)] == [
        "allowed",
        "allowed",
        "denied",
        "denied",
        "denied",
        "failed",
        "failed",
    ]
    assert audit_action("GET", "/cases/{case_id}") == "R"
    assert audit_action("POST", "/cases/{case_id}/documents") == "C"
    assert audit_action("POST", "/offers/{offer_id}/accept") == "E"
    assert audit_action("PUT", "/reports/{report_id}/draft") == "U"


def test_a_record_names_ids_and_never_carries_a_body() -> None:
    record = access_record(
        service="records",
        method="GET",
        route="/cases/{case_id}/documents/{document_id}",
        path_params={"case_id": "c1", "document_id": "d9"},
        case_id="c1",
        status_code=200,
        principal=FAMILY,
        client="127.0.0.1",
        now=datetime(2026, 11, 23, tzinfo=UTC),
    )
    assert record.entities == {"document_id": "d9"}
    resource = as_fhir_audit_event("e1", record)
    assert resource["resourceType"] == "AuditEvent"
    assert resource["outcome"] == "0" and resource["action"] == "R"
    assert resource["agent"][0]["who"]["identifier"]["value"] == "family-1"
    assert [e["what"]["identifier"]["value"] for e in resource["entity"]] == ["c1", "d9"]


async def test_the_middleware_records_allowed_and_refused_requests_but_not_probes() -> None:
    publisher = InMemoryEventPublisher(StackSettings())
    trail = AuditTrail(InMemoryAuditOutbox(), publisher, service="records")
    app = FastAPI()

    def who(request: Request) -> Principal:
        if request.headers.get("authorization") != "Bearer family":
            raise ApiError(401, "unauthenticated", "send a token")
        request.state.principal = FAMILY
        return FAMILY

    @app.get("/cases/{case_id}/checklist")
    async def checklist(case_id: str, principal: Principal = Depends(who)) -> dict[str, str]:  # noqa: B008
        if not principal.may_see_case(case_id):
            raise ApiError(404, "not_found", "no such case")
        return {"case_id": case_id}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    install_error_handlers(app)
    app.add_middleware(AuditMiddleware, trail=trail)
    stop = asyncio.Event()
    running = asyncio.create_task(trail.run(stop))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        family = {"authorization": "Bearer family"}
        assert (await client.get("/cases/c1/checklist", headers=family)).status_code == 200
        assert (await client.get("/cases/c2/checklist", headers=family)).status_code == 404
        assert (await client.get("/cases/c1/checklist")).status_code == 401
        assert (await client.get("/healthz")).status_code == 200
    stop.set()
    await running

    records = [
        payload_as(decode_payload(decode(record.value)), AccessRecorded)
        for record in publisher.records
    ]
    assert [(r.case_id, r.agent.subject, r.outcome) for r in records] == [
        ("c1", "family-1", "allowed"),
        ("c2", "family-1", "denied"),
        ("c1", "anonymous", "denied"),
    ]
    assert {r.route for r in records} == {"/cases/{case_id}/checklist"}


class NoRecords:
    """The audit store's read side, empty: the test is about who may ask."""

    async def for_case(self, case_id: str, *, limit: int) -> list[tuple[str, AccessRecorded]]:
        return []


async def test_only_a_compliance_officer_may_read_a_cases_trail() -> None:
    def who(request: Request) -> Principal:
        role: Role = request.headers["x-role"]  # type: ignore[assignment]
        return Principal(subject=f"{role}-1", role=role, token_id="t")

    app = create_audit_app(store=NoRecords(), current_principal=who, readiness={})  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://audit.test") as client:
        officer = await client.get("/audit/cases/c1", headers={"x-role": "compliance-officer"})
        assert officer.status_code == 200 and officer.json() == {"case_id": "c1", "records": []}
        # The trail names cases and people: admin (roster, partners) sees no case data.
        for role in ("admin", "intake-staff", "expert", "guardian", "service"):
            refused = await client.get("/audit/cases/c1", headers={"x-role": role})
            assert refused.status_code == 403, role
            error = refused.json()["error"]
            assert error["code"] == "forbidden"
            assert error["message"] == "only a compliance officer may read the audit trail"


class _BrokerDown(InMemoryEventPublisher):
    async def send_records(self, records: Sequence[OutgoingRecord]) -> None:
        raise ConnectionError("broker down")


def _record(case_id: str) -> AccessRecorded:
    return access_record(
        service="records",
        method="GET",
        route="/cases/{case_id}/checklist",
        path_params={"case_id": case_id},
        case_id=case_id,
        status_code=200,
        principal=FAMILY,
        client="127.0.0.1",
        now=datetime(2026, 12, 2, tzinfo=UTC),
    )


def _published(publisher: InMemoryEventPublisher) -> list[AccessRecorded]:
    return [payload_as(decode_payload(decode(r.value)), AccessRecorded) for r in publisher.records]


def _app_resolving_studies(trail: AuditTrail) -> FastAPI:
    """A route whose URL names a study, not a case; it resolves the study to its cases."""
    app = FastAPI()
    cases_of_study = {"s1": ["c1"], "s2": ["c1", "c2"]}

    @app.get("/studies/{study}")
    async def study(study: str, request: Request) -> dict[str, str]:
        request.state.principal = FAMILY
        audit_case(request, *cases_of_study.get(study, []))
        if study != "s1":  # refused, and the caller is not told whose study it is
            raise ApiError(404, "not_found", "no such study")
        return {"study": study}

    install_error_handlers(app)
    app.add_middleware(AuditMiddleware, trail=trail)
    return app


async def test_a_case_the_route_resolved_from_the_url_is_on_the_record_allowed_or_refused() -> None:
    publisher = InMemoryEventPublisher()
    trail = AuditTrail(InMemoryAuditOutbox(), publisher, service="records")
    transport = httpx.ASGITransport(app=_app_resolving_studies(trail))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/studies/s1")).status_code == 200
        assert (await client.get("/studies/s2")).status_code == 404
        assert (await client.get("/studies/s9")).status_code == 404
    await trail.relay_once()
    records = _published(publisher)
    assert [(r.case_id, r.outcome, r.entities) for r in records] == [
        ("c1", "allowed", {"study": "s1"}),
        ("c1", "denied", {"study": "s2"}),  # one record per case the study belongs to
        ("c2", "denied", {"study": "s2"}),
        (None, "denied", {"study": "s9"}),
    ]


async def test_the_record_is_durable_before_the_response_starts() -> None:
    outbox = InMemoryAuditOutbox()
    trail = AuditTrail(outbox, InMemoryEventPublisher(), service="records")
    app = _app_resolving_studies(trail)
    kept_when_answered: list[int] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            kept_when_answered.append(len(outbox.events))

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/studies/s1",
        "raw_path": b"/studies/s1",
        "query_string": b"",
        "headers": [],
        "client": ("127.0.0.1", 5000),
        "server": ("test", 80),
        "scheme": "http",
        "root_path": "",
        "http_version": "1.1",
    }
    await app(scope, receive, send)
    # A kill -9 right after the answer started would still leave the record in the outbox.
    assert kept_when_answered == [1]


class _OutboxDown(InMemoryAuditOutbox):
    async def add(self, events: Sequence[CloudEvent]) -> None:
        raise ConnectionError("database down")


async def test_an_access_whose_record_cannot_be_written_is_not_answered() -> None:
    trail = AuditTrail(_OutboxDown(), InMemoryEventPublisher(), service="records")
    transport = httpx.ASGITransport(app=_app_resolving_studies(trail))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        refused = await client.get("/studies/s1")
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "audit_unavailable"
    assert "s1" not in refused.text


class _BrokerDown(InMemoryEventPublisher):
    async def send_records(self, records: Sequence[OutgoingRecord]) -> None:
        raise ConnectionError("broker down")


def _record(case_id: str) -> AccessRecorded:
    return access_record(
        service="records",
        method="GET",
        route="/cases/{case_id}/checklist",
        path_params={"case_id": case_id},
        case_id=case_id,
        status_code=200,
        principal=FAMILY,
        client="127.0.0.1",
        now=datetime(2026, 12, 2, tzinfo=UTC),
    )


async def test_the_relay_publishes_the_outbox_oldest_first_and_empties_it() -> None:
    outbox, publisher = InMemoryAuditOutbox(), InMemoryEventPublisher()
    trail = AuditTrail(outbox, publisher, service="records", batch_size=2)
    for case_id in ("c1", "c2", "c3"):
        await trail.record([_record(case_id)])
    stop = asyncio.Event()
    running = asyncio.create_task(trail.run(stop))
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(running, timeout=5)
    assert [decode(r.value).subject for r in publisher.records] == ["c1", "c2", "c3"]
    assert outbox.events == {}


async def test_a_stop_while_the_broker_is_away_leaves_the_records_for_the_next_process() -> None:
    outbox = InMemoryAuditOutbox()
    trail = AuditTrail(outbox, _BrokerDown(), service="records")
    stop = asyncio.Event()
    running = asyncio.create_task(trail.run(stop))
    await trail.record([_record("c1")])
    await asyncio.sleep(0.05)  # failed once, waiting to retry
    await trail.record([_record("c2")])
    stop.set()
    await asyncio.wait_for(running, timeout=5)  # returns by itself, not cancelled
    assert sorted(e.subject for e in outbox.events.values()) == ["c1", "c2"]

    publisher = InMemoryEventPublisher()
    stop = asyncio.Event()
    stop.set()  # the next process publishes what was left even if it stops at once
    await AuditTrail(outbox, publisher, service="records").run(stop)
    assert sorted(decode(r.value).subject for r in publisher.records) == ["c1", "c2"]
    assert outbox.events == {}


async def test_next_batch_takes_what_is_queued_up_to_the_limit_and_nothing_once_stopped() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    stop = asyncio.Event()
    for n in range(5):
        queue.put_nowait(n)
    assert await next_batch(queue, stop, 3) == [0, 1, 2]
    assert await next_batch(queue, stop, 3) == [3, 4]
    waiting = asyncio.create_task(next_batch(queue, stop, 3))
    await asyncio.sleep(0.01)
    stop.set()
    assert await waiting == []
    assert queue.empty()


async def test_an_access_by_another_protocol_is_recorded_with_its_agent() -> None:
    """A DICOM association has no request object: the record is written from the facts."""
    outbox = InMemoryAuditOutbox()
    trail = AuditTrail(outbox, InMemoryEventPublisher(), service="records")
    agent = AuditAgent(
        subject="VALLEYPACS",
        role="hospital-system",
        organization="org-1",
        network_address="10.0.0.5",
    )
    await record_access(
        trail,
        protocol="DIMSE",
        operation="C-STORE",
        case_id="case-1",
        action="C",
        status_code=201,
        agent=agent,
        entities={"study": "1.2.3", "sop": "1.2.3.4"},
    )
    (event,) = outbox.events.values()
    record = payload_as(decode_payload(event), AccessRecorded)
    assert (record.case_id, record.service, record.action, record.outcome) == (
        "case-1", "records", "C", "allowed"
    )  # fmt: skip
    assert (record.method, record.route, record.agent) == ("C-STORE", "DIMSE", agent)
    assert record.entities == {"study": "1.2.3", "sop": "1.2.3.4"}
    assert event.subject == "case-1"
    no_case = AuditAgent(subject="VALLEYPACS", role="hospital-system")
    await record_access(
        trail, protocol="DIMSE", operation="C-STORE", case_id=None, action="C",
        status_code=422, agent=no_case, entities={},
    )  # fmt: skip
    refused = [payload_as(decode_payload(e), AccessRecorded) for e in outbox.events.values()]
    assert [(r.case_id, r.outcome) for r in refused] == [("case-1", "allowed"), (None, "failed")]


class _CountingOutbox(InMemoryAuditOutbox):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.removals = 0

    async def oldest(self, limit: int) -> list[CloudEvent]:
        self.reads += 1
        return await super().oldest(limit)

    async def remove(self, event_ids: Sequence[str]) -> None:
        self.removals += 1
        await super().remove(event_ids)


async def test_records_go_out_from_memory_and_leave_the_outbox_together() -> None:
    outbox = _CountingOutbox()
    publisher = InMemoryEventPublisher()
    trail = AuditTrail(outbox, publisher, service="records")
    for case_id in ("c1", "c2", "c3"):
        await trail.record([_record(case_id)])
        assert await trail.relay_once(sweep=False, remove=False) == 1
    assert (outbox.reads, outbox.removals, len(outbox.events)) == (0, 0, 3)
    assert await trail.relay_once(sweep=True) == 0  # a sweep skips what went out already
    assert (outbox.reads, outbox.removals, outbox.events) == (1, 1, {})
    assert [decode(r.value).subject for r in publisher.records] == ["c1", "c2", "c3"]
