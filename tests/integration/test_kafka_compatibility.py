"""aiokafka against the Kafka 4.x broker we run: produce, group consume, commit, rebalance."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.bus import KafkaEventPublisher
from shared.settings import StackSettings
from tests.support import eventually, sample_event

pytestmark = pytest.mark.real


def _consumer(stack: StackSettings, group: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        stack.topic("case.submitted"),
        bootstrap_servers=stack.kafka_bootstrap_servers,
        group_id=stack.topic(group),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=10_000,
        heartbeat_interval_ms=500,
    )


async def test_produce_consume_commit_and_rebalance(
    topics: StackSettings, publisher: KafkaEventPublisher
) -> None:
    topic = topics.topic("case.submitted")
    events = [sample_event(f"case-{i}") for i in range(30)]
    await publisher.publish(events)

    first = _consumer(topics, "compat")
    await first.start()
    try:
        seen: list[bytes] = []

        async def drained() -> bool:
            batch = await first.getmany(timeout_ms=200)
            for messages in batch.values():
                seen.extend(m.key for m in messages)
            return len(seen) >= 30

        await eventually(drained)
        assert sorted(seen) == sorted(e.subject.encode() for e in events)
        await first.commit()
        partitions = first.assignment()
        assert len(partitions) == 6
        committed = {tp: await first.committed(tp) for tp in partitions}
        assert sum(committed.values()) == 30

        # A second member joins: the group rebalances and the partitions are split.
        second = _consumer(topics, "compat")
        await second.start()
        try:

            async def split() -> bool:
                await first.getmany(timeout_ms=100)
                await second.getmany(timeout_ms=100)
                return bool(first.assignment()) and bool(second.assignment())

            await eventually(split)
            assert first.assignment().isdisjoint(second.assignment())
            assert first.assignment() | second.assignment() == {
                TopicPartition(topic, p) for p in range(6)
            }
            # The new member starts from the committed offsets: nothing is read twice.
            more = await second.getmany(timeout_ms=300)
            assert sum(len(m) for m in more.values()) == 0
        finally:
            await second.stop()
    finally:
        await first.stop()
