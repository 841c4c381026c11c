"""Publishing to the event bus: the port, its Kafka adapter and an in-memory fake."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from aiokafka import AIOKafkaProducer

from shared.envelope import CloudEvent, encode
from shared.settings import StackSettings

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class OutgoingRecord:
    topic: str
    key: bytes
    value: bytes
    headers: Headers = field(default_factory=list)


class EventPublisher(Protocol):
    async def publish(self, events: Sequence[CloudEvent]) -> None:
        """Publish events to their topics keyed by case id; returns once all are acknowledged."""

    async def send_records(self, records: Sequence[OutgoingRecord]) -> None:
        """Send raw records (dead letters keep the original bytes); returns once acknowledged."""


def to_record(event: CloudEvent, stack: StackSettings) -> OutgoingRecord:
    # Keyed by case id, so every event of one case lands on one partition, in order.
    return OutgoingRecord(
        topic=stack.topic(event.type),
        key=event.subject.encode(),
        value=encode(event),
        headers=[("content-type", b"application/cloudevents+json")],
    )


class KafkaEventPublisher:
    """acks=all with idempotence, so a retried send never duplicates or reorders a partition."""

    def __init__(
        self, stack: StackSettings, *, linger_ms: int = 5, request_timeout_ms: int = 15000
    ) -> None:
        self._stack = stack
        self._producer = AIOKafkaProducer(
            bootstrap_servers=stack.kafka_bootstrap_servers,
            acks="all",
            enable_idempotence=True,
            linger_ms=linger_ms,
            request_timeout_ms=request_timeout_ms,
            # Bounded: a send that cannot complete in this time fails instead of hanging.
            max_batch_size=1024 * 1024,
        )
        self._send_timeout_s = request_timeout_ms / 1000 * 2

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def publish(self, events: Sequence[CloudEvent]) -> None:
        await self.send_records([to_record(e, self._stack) for e in events])

    async def send_records(self, records: Sequence[OutgoingRecord]) -> None:
        # Queue everything first so the producer batches, then wait for every acknowledgement.
        futures = [
            await self._producer.send(r.topic, r.value, key=r.key, headers=r.headers)
            for r in records
        ]
        if futures:
            async with asyncio.timeout(self._send_timeout_s):
                await asyncio.gather(*futures)


class InMemoryEventPublisher:
    """Fake publisher for unit tests: keeps what was sent, can be told to fail."""

    def __init__(self, stack: StackSettings | None = None) -> None:
        self._stack = stack or StackSettings()
        self.records: list[OutgoingRecord] = []
        self.fail_next: Exception | None = None

    async def publish(self, events: Sequence[CloudEvent]) -> None:
        await self.send_records([to_record(e, self._stack) for e in events])

    async def send_records(self, records: Sequence[OutgoingRecord]) -> None:
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        self.records.extend(records)

    def on_topic(self, topic: str) -> list[OutgoingRecord]:
        return [r for r in self.records if r.topic == topic]
