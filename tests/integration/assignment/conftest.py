"""The assignment service in-process against the real servers: its app over ASGI, and its
consumer, outbox relay and scan as tasks, on the test's own namespace."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from services.assignment.__main__ import AssignmentService, assemble
from services.assignment.config import AssignmentSettings
from services.assignment.handlers import SERVICE
from services.assignment.store import AssignmentStore
from shared.auth import Role, TokenIssuer, TokenVerifier
from shared.bus import KafkaEventPublisher
from shared.contracts import RecordsReady
from shared.contracts.records_ready import Completeness, IdentityCheck
from shared.envelope import CloudEvent, decode, make_event
from shared.mongo import connect
from shared.settings import StackSettings
from tests.support import eventually

ROSTER: list[dict[str, Any]] = [
    # For the sample case (neuro-oncology, medulloblastoma, Spanish, Valley Pediatrics) the
    # ranking is ana, ben, cruz; valley is excluded as a conflict of interest.
    {"expert_id": "ana", "subspecialties": ["medulloblastoma"], "languages": ["en", "es"]},
    {"expert_id": "ben", "subspecialties": ["medulloblastoma"], "languages": ["en"]},
    {"expert_id": "cruz", "languages": ["es"]},
    {
        "expert_id": "valley",
        "subspecialties": ["medulloblastoma"],
        "institution": "Valley Pediatrics",
    },
]


def roster_entry(expert_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "display_name": f"Dr. {expert_id.title()}",
        "specialty": "neuro-oncology",
        "institution": f"{expert_id.title()} Children's",
        "capacity": 3,
        "expert_id": expert_id,
        **fields,
    }


def records_ready(case_id: str, **event: Any) -> CloudEvent:
    payload = RecordsReady(
        case_id=case_id,
        documents=[],
        studies=[],
        completeness=Completeness(required=["pathology-report"], present=["pathology-report"]),
        identity_check=IdentityCheck(status="match"),
    )
    return make_event(payload, source="/tests/records", subject=case_id, **event)


@dataclass
class EventLog:
    """Everything the service published on its two topics, read back from Kafka."""

    events: list[CloudEvent] = field(default_factory=list)

    def add(self, event: CloudEvent) -> None:
        # The outbox publishes at least once; like every consumer, count an event id once.
        if all(known.id != event.id for known in self.events):
            self.events.append(event)

    def of(self, case_id: str, event_type: str = "assignment.updated") -> list[CloudEvent]:
        return [e for e in self.events if e.subject == case_id and e.type == event_type]

    def changes(self, case_id: str) -> list[tuple[str, str | None]]:
        """(change, expert id) of each assignment.updated of the case, in order."""
        return [
            (e.data["change"], (e.data.get("expert") or {}).get("expert_id"))
            for e in self.of(case_id)
        ]


@dataclass
class Running:
    service: AssignmentService
    store: AssignmentStore
    client: httpx.AsyncClient
    log: EventLog
    issuer: TokenIssuer
    publisher: KafkaEventPublisher

    def auth(self, subject: str, role: Role) -> dict[str, str]:
        return {"authorization": f"Bearer {self.issuer.issue(subject=subject, role=role)}"}

    @property
    def staff(self) -> dict[str, str]:
        return self.auth("staff-1", "intake-staff")

    async def publish(self, *events: CloudEvent) -> None:
        await self.publisher.publish(events)

    async def applied(self, case_id: str, event_id: str) -> bool:
        return event_id in await self.applied_ids(case_id)

    async def applied_ids(self, case_id: str) -> list[str]:
        """The consumed events the case records as applied, oldest first."""
        return (await self.store.documents.load(case_id)).applied.get(SERVICE, [])

    async def offered_to(self, case_id: str, expert_id: str, nth: int = 1) -> str:
        """Wait for the nth offer to this expert on the topic; returns its offer id."""
        await eventually(lambda: self.log.changes(case_id).count(("offered", expert_id)) >= nth)
        offers = (await self.client.get("/offers", headers=self.auth(expert_id, "expert"))).json()
        mine = [o for o in offers if o["case_id"] == case_id and o["status"] == "open"]
        assert len(mine) == 1, mine
        return str(mine[0]["offer_id"])


StartAssignment = Callable[..., AbstractAsyncContextManager[Running]]


@pytest.fixture
def start_assignment(
    topics: StackSettings,
    publisher: KafkaEventPublisher,
    issuer: TokenIssuer,
    verifier: TokenVerifier,
) -> StartAssignment:
    @asynccontextmanager
    async def start(*, with_roster: bool = True, **settings: Any) -> AsyncIterator[Running]:
        config = AssignmentSettings(stack=topics, scan_interval_s=0.1, **settings)
        mongo = connect(topics, app_name="assignment-tests")
        store = AssignmentStore(mongo[topics.database("assignment")])
        service = await assemble(
            store=store, stack=topics, publisher=publisher, settings=config, verifier=verifier
        )
        log = EventLog()
        stop = asyncio.Event()
        tasks = [asyncio.create_task(task(stop)) for task in service.background]
        tasks.append(asyncio.create_task(_collect(topics, log, stop)))
        transport = httpx.ASGITransport(app=service.app)
        client = httpx.AsyncClient(transport=transport, base_url="http://assignment")
        running = Running(service, store, client, log, issuer, publisher)
        try:
            for entry in ROSTER if with_roster else []:
                answer = await client.post(
                    "/experts", json=roster_entry(**entry), headers=running.auth("admin-1", "admin")
                )
                assert answer.status_code == 201, answer.text
            await eventually(lambda: service.runner.ready)
            yield running
        finally:
            stop.set()
            for task in tasks:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, 30)
            await client.aclose()
            await mongo.drop_database(topics.database("assignment"))
            await mongo.close()

    return start


async def _collect(stack: StackSettings, log: EventLog, stop: asyncio.Event) -> None:
    topics: Sequence[str] = (stack.topic("assignment.updated"), stack.topic("expert.assigned"))
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=stack.kafka_bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=100)
            for messages in batches.values():
                for message in messages:
                    log.add(decode(message.value))
    finally:
        await consumer.stop()
