"""Reading whole platform topics in tests: every record from the beginning to the current end."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from shared.settings import StackSettings
from shared.topics import platform_topics


async def read_topic(
    stack: StackSettings, topic: str, *, within: float = 30
) -> list[ConsumerRecord[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.kafka_bootstrap_servers, enable_auto_commit=False
    )
    await consumer.start()
    try:
        (spec,) = [s for s in platform_topics(stack) if s.name == topic]
        partitions = [TopicPartition(topic, p) for p in range(spec.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord[bytes, bytes]] = []
        async with asyncio.timeout(within):
            while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
                batch = await consumer.getmany(timeout_ms=200)
                records += [m for ms in batch.values() for m in ms]
        return records
    finally:
        await consumer.stop()
