"""One contract for the publisher port, run against the in-memory fake and the real broker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiokafka import AIOKafkaConsumer

from shared.bus import EventPublisher, InMemoryEventPublisher, KafkaEventPublisher, OutgoingRecord
from shared.envelope import decode
from shared.settings import StackSettings
from tests.support import eventually, sample_event

ReadBack = Callable[[str], Awaitable[list[OutgoingRecord]]]


class PublisherContract:
    """Subclasses provide `port`: a publisher and a way to read a topic back."""

    async def test_events_go_to_their_topic_keyed_by_case_in_order(
        self, port: tuple[EventPublisher, ReadBack, StackSettings]
    ) -> None:
        publisher, read_back, stack = port
        events = [sample_event("case-c1") for _ in range(3)] + [sample_event("case-c2")]
        await publisher.publish(events)
        topic = stack.topic("case.submitted")
        records = await eventually(lambda: _at_least(read_back(topic), 4))
        case_one = [decode(r.value).id for r in records if r.key == b"case-c1"]
        assert case_one == [e.id for e in events[:3]]
        assert {r.key for r in records} == {b"case-c1", b"case-c2"}

    async def test_raw_records_keep_their_bytes_and_headers(
        self, port: tuple[EventPublisher, ReadBack, StackSettings]
    ) -> None:
        publisher, read_back, stack = port
        topic = stack.topic("case.submitted") + ".dlq"
        await publisher.send_records([OutgoingRecord(topic, b"k", b"\x00raw", [("why", b"x")])])
        (record,) = await eventually(lambda: _at_least(read_back(topic), 1))
        assert (record.key, record.value, dict(record.headers)["why"]) == (b"k", b"\x00raw", b"x")


async def _at_least(
    records: Awaitable[list[OutgoingRecord]], count: int
) -> list[OutgoingRecord] | None:
    found = await records
    return found if len(found) >= count else None


class TestInMemoryPublisher(PublisherContract):
    @pytest.fixture
    def port(self) -> tuple[EventPublisher, ReadBack, StackSettings]:
        stack = StackSettings(sop_namespace="fake_")
        fake = InMemoryEventPublisher(stack)

        async def read_back(topic: str) -> list[OutgoingRecord]:
            return fake.on_topic(topic)

        return fake, read_back, stack


@pytest.mark.real
class TestKafkaPublisher(PublisherContract):
    @pytest.fixture
    async def port(
        self, topics: StackSettings, publisher: KafkaEventPublisher
    ) -> AsyncIterator[tuple[EventPublisher, ReadBack, StackSettings]]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=topics.kafka_bootstrap_servers, auto_offset_reset="earliest"
        )
        await consumer.start()
        seen: list[OutgoingRecord] = []

        async def read_back(topic: str) -> list[OutgoingRecord]:
            if topic not in consumer.subscription():
                consumer.subscribe([topic])
            batch = await consumer.getmany(timeout_ms=300)
            seen.extend(
                OutgoingRecord(m.topic, m.key, m.value, list(m.headers))
                for ms in batch.values()
                for m in ms
            )
            return [r for r in seen if r.topic == topic]

        yield publisher, read_back, topics
        await consumer.stop()
