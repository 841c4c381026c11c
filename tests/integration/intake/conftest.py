"""The intake service in-process against the real servers: its app behind an httpx client, its
consumer and outbox relay as tasks, on the test's own namespace."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.intake.config import IntakeSettings
from services.intake.store import IntakeStore
from services.intake.wiring import SERVICE, IntakeService, assemble
from shared.auth import Role, TokenIssuer, TokenVerifier
from shared.bus import KafkaEventPublisher, OutgoingRecord
from shared.envelope import CloudEvent, decode, encode
from shared.mongo import connect
from shared.settings import StackSettings
from shared.topics import platform_topics
from tests.support import eventually
from tests.topic_reading import consumed_everything, opened

HOSPITAL_TOPIC = "hospital.case.submitted"


@dataclass
class IntakeHarness:
    service: IntakeService
    store: IntakeStore
    client: httpx.AsyncClient
    stack: StackSettings
    publisher: KafkaEventPublisher
    issuer: TokenIssuer

    def auth(
        self,
        role: Role = "intake-staff",
        *,
        case_ids: Iterable[str] = (),
        organization: str | None = None,
    ) -> dict[str, str]:
        token = self.issuer.issue(
            subject=f"{role}-1", role=role, case_ids=case_ids, organization=organization
        )
        return {"Authorization": f"Bearer {token}"}

    @property
    def staff(self) -> dict[str, str]:
        return self.auth("intake-staff")

    async def submit(self, body: dict[str, Any], **headers: str) -> dict[str, Any]:
        answer = await self.client.post("/cases", json=body, headers=headers)
        assert answer.status_code == 201, answer.text
        accepted: dict[str, Any] = answer.json()
        return accepted

    async def send_hospital(self, event: CloudEvent, *, key: str | None = None) -> None:
        """Produce onto the inbound topic as a hospital system would."""
        record = OutgoingRecord(
            topic=self.stack.topic(HOSPITAL_TOPIC),
            key=(key or event.subject).encode(),
            value=encode(event),
        )
        await self.publisher.send_records([record])

    async def send_raw(self, key: str, value: bytes) -> None:
        topic = self.stack.topic(HOSPITAL_TOPIC)
        await self.publisher.send_records([OutgoingRecord(topic, key.encode(), value)])

    async def published(self, event_type: str, case_id: str) -> list[CloudEvent]:
        """Distinct events (by id) of one case on a topic, as consumers would count them."""
        found: dict[str, CloudEvent] = {}
        for value, _ in await read_topic(self.stack, self.stack.topic(event_type)):
            event = decode(value)
            if event.subject == case_id:
                found.setdefault(event.id, event)
        return await opened(self.stack, list(found.values()))

    async def inbound_consumed(self) -> bool:
        """True once intake has committed every message on the hospital topic."""
        return await consumed_everything(self.stack, self.stack.topic(SERVICE), HOSPITAL_TOPIC)


@pytest.fixture
async def intake(
    topics: StackSettings,
    publisher: KafkaEventPublisher,
    issuer: TokenIssuer,
    verifier: TokenVerifier,
) -> AsyncIterator[IntakeHarness]:
    settings = IntakeSettings(
        stack=topics, records_public_url="http://records.test", submissions_per_minute=1000
    )
    mongo = connect(topics, app_name="intake-tests")
    store = IntakeStore(mongo[topics.database(SERVICE)])
    service = await assemble(
        store=store, publisher=publisher, settings=settings, verifier=verifier, links=issuer
    )
    stop = asyncio.Event()
    tasks = [asyncio.create_task(task(stop)) for task in service.background]
    transport = httpx.ASGITransport(app=service.app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://intake.test") as client:
            await eventually(lambda: service.runner.ready)
            yield IntakeHarness(service, store, client, topics, publisher, issuer)
    finally:
        stop.set()
        for task in tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 30)
        await mongo.drop_database(topics.database(SERVICE))
        await mongo.close()


def partitions(stack: StackSettings, topic: str) -> list[TopicPartition]:
    """The partitions `ensure_topics` created for a topic (a dead-letter topic has one)."""
    (spec,) = [s for s in platform_topics(stack) if s.name == topic]
    return [TopicPartition(topic, n) for n in range(spec.partitions)]


async def read_topic(stack: StackSettings, topic: str) -> list[tuple[bytes, dict[str, bytes]]]:
    """Every message on a topic, from the beginning to its current end."""
    return [(value, headers) for _, value, headers in await _read_messages(stack, topic)]


async def read_topic_with_keys(stack: StackSettings, topic: str) -> list[tuple[bytes, bytes]]:
    """(key, value) of every message on a topic, from the beginning to its current end."""
    return [(key, value) for key, value, _ in await _read_messages(stack, topic)]


async def _read_messages(
    stack: StackSettings, topic: str
) -> list[tuple[bytes, bytes, dict[str, bytes]]]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.kafka_bootstrap_servers, enable_auto_commit=False
    )
    await consumer.start()
    try:
        assigned = partitions(stack, topic)
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        found: list[tuple[bytes, bytes, dict[str, bytes]]] = []
        async with asyncio.timeout(15):
            while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
                batch = await consumer.getmany(timeout_ms=200)
                found += [
                    (m.key or b"", m.value, dict(m.headers)) for ms in batch.values() for m in ms
                ]
        return found
    finally:
        await consumer.stop()
