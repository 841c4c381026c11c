"""The consumer runner against the real broker: dead letters, commits, redelivery, resume."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from shared.bus import KafkaEventPublisher, OutgoingRecord
from shared.consumer import ConsumerRunner, Delivery, RetryPolicy, TransientError
from shared.contracts import CaseErased
from shared.contracts.common import Actor
from shared.envelope import encode, make_event
from shared.erasure import ERASED_CASES, ErasureReader
from shared.settings import StackSettings
from tests.support import eventually, sample_event

pytestmark = pytest.mark.real

FAST_RETRY = RetryPolicy(attempts=2, base_delay_s=0.01, max_delay_s=0.05)


@asynccontextmanager
async def running(
    stack: StackSettings,
    publisher: KafkaEventPublisher,
    handler: Callable[[Delivery], Awaitable[None]],
    group: str = "runner",
) -> AsyncIterator[ConsumerRunner]:
    runner = ConsumerRunner(
        stack=stack,
        group_id=stack.topic(group),
        handlers={"case.submitted": handler},
        publisher=publisher,
        retry=FAST_RETRY,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        yield runner
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def read_all(stack: StackSettings, topic: str) -> list[tuple[bytes, dict[str, bytes]]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=stack.kafka_bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=1000)
        return [(m.value, dict(m.headers)) for ms in batch.values() for m in ms]
    finally:
        await consumer.stop()


async def test_poison_messages_go_to_the_dlq_with_a_reason_and_valid_ones_are_processed(
    topics: StackSettings, publisher: KafkaEventPublisher
) -> None:
    topic = topics.topic("case.submitted")
    valid = sample_event("case-good")
    wrong_schema = orjson.loads(encode(sample_event("case-bad")))
    del wrong_schema["data"]["consent"]
    wrong_type = orjson.loads(encode(sample_event("case-type")))
    wrong_type["type"] = "records.ready"
    poison = [
        OutgoingRecord(topic, b"case-x", b"{this is not json"),
        OutgoingRecord(topic, b"case-bad", orjson.dumps(wrong_schema)),
        OutgoingRecord(topic, b"case-type", orjson.dumps(wrong_type)),
        OutgoingRecord(topic, b"case-other", encode(valid)),  # key is not the subject
    ]
    # All keyed to reach different partitions; the valid one comes last on the same key too.
    await publisher.send_records(poison)
    await publisher.publish([valid])
    handled: list[str] = []

    async def handler(delivery: Delivery) -> None:
        handled.append(delivery.event.subject)

    async with running(topics, publisher, handler):
        await eventually(lambda: handled == ["case-good"])
        dead = await eventually(lambda: _dead_letters(topics, topic, 4))
    reasons = sorted(headers["dlq.reason"].decode() for _, headers in dead)
    assert reasons == ["invalid_json", "invalid_payload", "key_mismatch", "type_mismatch"]
    for _value, headers in dead:
        assert headers["dlq.original.topic"] == topic.encode()
        assert b"Quinterofake" not in headers["dlq.detail"]


async def test_a_failing_handler_does_not_commit_and_a_restart_redelivers(
    topics: StackSettings, publisher: KafkaEventPublisher
) -> None:
    event = sample_event("case-retry")
    await publisher.publish([event])
    attempts: list[str] = []

    async def broken(delivery: Delivery) -> None:
        attempts.append(delivery.event.id)
        raise TransientError("database briefly away")

    async with running(topics, publisher, broken) as runner:
        await eventually(lambda: len(attempts) >= 4)
        assert not runner.ready  # a stuck partition shows as not ready
    assert set(attempts) == {event.id}

    handled: list[str] = []

    async def healthy(delivery: Delivery) -> None:
        handled.append(delivery.event.id)

    async with running(topics, publisher, healthy):
        await eventually(lambda: handled == [event.id])
    # Nothing was dead-lettered: a transient failure is retried, never discarded.
    assert await read_all(topics, f"{topics.topic('case.submitted')}.dlq") == []


async def test_a_restarted_consumer_resumes_where_it_left_off(
    topics: StackSettings, publisher: KafkaEventPublisher
) -> None:
    first_batch = [sample_event(f"case-a{i}") for i in range(5)]
    second_batch = [sample_event(f"case-b{i}") for i in range(5)]
    handled: list[str] = []

    async def handler(delivery: Delivery) -> None:
        handled.append(delivery.event.id)

    await publisher.publish(first_batch)
    async with running(topics, publisher, handler):
        await eventually(lambda: len(handled) == 5)
    await publisher.publish(second_batch)
    async with running(topics, publisher, handler):
        await eventually(lambda: len(handled) == 10)
    assert len(handled) == len(set(handled)) == 10


async def _dead_letters(
    stack: StackSettings, topic: str, expected: int
) -> list[tuple[bytes, dict[str, bytes]]] | None:
    dead = await read_all(stack, f"{topic}.dlq")
    return dead if len(dead) >= expected else None


async def test_events_of_an_erased_case_are_skipped_and_the_reader_learns_erasures(
    topics: StackSettings, publisher: KafkaEventPublisher
) -> None:
    erased = CaseErased(
        case_id="case-erased-1",
        erased_at=datetime.now(UTC),
        reason="family-request",
        actor=Actor(subject="staff-1", role="intake-staff"),
    )
    await publisher.publish([make_event(erased, source="/tests", subject="case-erased-1")])
    reader = ErasureReader(topics)
    try:
        assert await reader.catch_up() == 1
    finally:
        await reader.close()
    assert "case-erased-1" in ERASED_CASES

    await publisher.publish([sample_event("case-erased-1"), sample_event("case-kept-1")])
    handled: list[str] = []

    async def handler(delivery: Delivery) -> None:
        handled.append(delivery.event.subject)

    async with running(topics, publisher, handler, group="erasure-skip"):
        await eventually(lambda: handled, within=30)
        await asyncio.sleep(1)
    assert handled == ["case-kept-1"]
