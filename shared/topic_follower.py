"""A whole small topic read into memory by every process, then followed: link revocations
(shared/revocations.py), erased cases (shared/erasure.py) and case keys (shared/case_keys.py).

No consumer group and no committed offsets: each process reads the topic from its beginning, so
every instance of every service knows every record, and `shared/runtime.py` reads up to the end
before the service answers anything. Re-reading changes nothing (each reader's `apply` is
idempotent), so after a crash the runtime simply runs the follower again.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from shared.settings import StackSettings
from shared.topics import all_partitions

log = logging.getLogger(__name__)

Batches = dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]


class TopicFollower(ABC):
    """Reads `topic` from the beginning (`catch_up`), then follows it (`run`) until stopped."""

    def __init__(self, stack: StackSettings, topic: str, *, poll_ms: int = 200) -> None:
        self._stack = stack
        self._topic = stack.topic(topic)
        self._poll_ms = poll_ms
        self._consumer: AIOKafkaConsumer | None = None

    @abstractmethod
    def apply(self, message: ConsumerRecord[bytes, bytes]) -> bool:
        """Take in one record; False when it could not be read (skipped: with no consumer group
        there is no dead-letter topic to send it to)."""

    @abstractmethod
    def loaded(self, read: int) -> None:
        """Called once the topic was read to its end (a reader logs what it knows)."""

    async def catch_up(self, *, within_s: float = 60) -> int:
        """Read every record published so far; returns how many were taken in."""
        await self.close()
        consumer = self._consumer = await self.start_consumer()
        read = await self.read_to_end(consumer, within_s=within_s, from_beginning=True)
        self.loaded(read)
        return read

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the topic until `stop`."""
        try:
            if self._consumer is None:
                await self.catch_up()
            consumer = self._consumer
            assert consumer is not None
            while not stop.is_set():
                self.apply_batch(await consumer.getmany(timeout_ms=self._poll_ms))
        finally:
            await self.close()

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    async def start_consumer(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._stack.kafka_bootstrap_servers,
            **self._stack.kafka_client_options(),
            enable_auto_commit=False,
        )
        await consumer.start()
        return consumer

    async def read_to_end(
        self, consumer: AIOKafkaConsumer, *, within_s: float, from_beginning: bool
    ) -> int:
        """Apply what `consumer` reads up to the topic's end as it is now."""
        read = 0
        async with asyncio.timeout(within_s):
            if from_beginning:
                partitions = await all_partitions(consumer, self._topic)
                consumer.assign(partitions)
                await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(list(consumer.assignment()))
            while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
                read += self.apply_batch(await consumer.getmany(timeout_ms=self._poll_ms))
        return read

    def apply_batch(self, batches: Batches) -> int:
        return sum(self.apply(message) for messages in batches.values() for message in messages)
