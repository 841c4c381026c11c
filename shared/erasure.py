"""Erased cases (issue 14): every service process reads `case.erased` from the beginning into
memory, as it reads link revocations (shared/revocations.py), and its consumer runner skips
any later event of an erased case (shared/consumer.py), so a redelivered or replayed
`case.submitted` never brings the child's personal data back into a store that erased it.

Each service also consumes `case.erased` in its own consumer group, and there erases what it
holds (services/<name>/erasure.py); this reader only keeps the set of erased case ids (ids,
no personal data) so that nothing comes back afterwards.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from shared.contracts import CASE_TOPICS, CaseErased, decode_payload, payload_as
from shared.envelope import InvalidEvent, decode
from shared.settings import StackSettings
from shared.topics import all_partitions

log = logging.getLogger(__name__)

ERASURE_TOPIC = CaseErased.event_type
# The events a consumer skips once their case is erased: every case event but the erasure
# itself (the audit trail, `audit.access`, is not one: it keeps who did what, after too).
ERASABLE_TYPES = frozenset(CASE_TOPICS) - {ERASURE_TOPIC}


class ErasedCases:
    """The ids of the cases whose personal data was erased."""

    def __init__(self) -> None:
        self._ids: set[str] = set()

    def __contains__(self, case_id: object) -> bool:
        return case_id in self._ids

    def add(self, case_id: str) -> None:
        self._ids.add(case_id)

    def __len__(self) -> int:
        return len(self._ids)


# One per process: the consumer runner and the reader share it (the runtime starts the reader).
ERASED_CASES = ErasedCases()


class ErasureReader:
    """Reads `case.erased` from the beginning, then follows it for as long as it runs."""

    def __init__(
        self, stack: StackSettings, erased: ErasedCases = ERASED_CASES, *, poll_ms: int = 200
    ) -> None:
        self.erased = erased
        self._stack = stack
        self._topic = stack.topic(ERASURE_TOPIC)
        self._poll_ms = poll_ms
        self._consumer: AIOKafkaConsumer | None = None

    async def catch_up(self, *, within_s: float = 60) -> int:
        """Read every erasure published so far; returns how many were read."""
        await self.close()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._stack.kafka_bootstrap_servers,
            **self._stack.kafka_client_options(),
            enable_auto_commit=False,
        )
        await consumer.start()
        self._consumer = consumer
        read = 0
        async with asyncio.timeout(within_s):
            partitions = await all_partitions(consumer, self._topic)
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
                read += self._apply_batch(await consumer.getmany(timeout_ms=self._poll_ms))
        log.info("erased cases loaded", extra={"count": len(self.erased)})
        return read

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the topic until `stop` (re-reading from the beginning changes nothing)."""
        try:
            if self._consumer is None:
                await self.catch_up()
            consumer = self._consumer
            assert consumer is not None
            while not stop.is_set():
                self._apply_batch(await consumer.getmany(timeout_ms=self._poll_ms))
        finally:
            await self.close()

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    def _apply_batch(
        self, batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
    ) -> int:
        applied = 0
        for messages in batches.values():
            for message in messages:
                try:
                    erased = payload_as(decode_payload(decode(message.value)), CaseErased)
                except (InvalidEvent, TypeError):
                    # The consumer groups dead-letter it; this reader has nowhere to.
                    log.warning("unreadable erasure skipped", extra={"offset": message.offset})
                    continue
                self.erased.add(erased.case_id)
                applied += 1
        return applied
