"""Revoked case links: every service process reads `access.revoked` from the beginning into an
in-memory map (case id → the second before which its links are revoked), and the token check
(`shared/auth.py`) refuses a case link issued before that second.

No consumer group: each process reads the whole topic itself (one small event per revocation),
so every instance of every service knows every revocation. `shared/runtime.py` reads up to the
topic's end before the service answers any request, so a service that restarts never accepts a
link revoked while it was down.
"""

from __future__ import annotations

import asyncio
import logging
import math

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from shared.contracts import REVOCATION_TOPIC, AccessRevoked, decode_payload, payload_as
from shared.envelope import InvalidEvent, decode
from shared.settings import StackSettings
from shared.topics import all_partitions

log = logging.getLogger(__name__)


class RevokedLinks:
    """Case id → the first second (`iat`) a link of that case may carry and still work."""

    def __init__(self) -> None:
        self._not_before: dict[str, int] = {}
        self._loaded = False

    @property
    def loaded(self) -> bool:
        return self._loaded

    def mark_loaded(self) -> None:
        self._loaded = True

    def not_before(self, case_id: str) -> int | None:
        return self._not_before.get(case_id)

    def apply(self, revoked: AccessRevoked) -> None:
        """Take in one revocation; a later one only ever moves the cut-off forward."""
        cutoff = math.ceil(revoked.not_before.timestamp())
        known = self._not_before.get(revoked.case_id)
        if known is None or cutoff > known:
            self._not_before[revoked.case_id] = cutoff

    def __len__(self) -> int:
        return len(self._not_before)


class RevocationReader:
    """Reads the revocation topic from the beginning, then follows it for as long as it runs."""

    def __init__(
        self, stack: StackSettings, revoked: RevokedLinks | None = None, *, poll_ms: int = 200
    ) -> None:
        self.revoked = revoked if revoked is not None else RevokedLinks()
        self._stack = stack
        self._topic = stack.topic(REVOCATION_TOPIC)
        self._poll_ms = poll_ms
        self._consumer: AIOKafkaConsumer | None = None

    async def catch_up(self, *, within_s: float = 60) -> int:
        """Read every revocation published so far; returns how many were read."""
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
        self.revoked.mark_loaded()
        log.info("link revocations loaded", extra={"count": read, "cases": len(self.revoked)})
        return read

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the topic until `stop`; after a crash the runtime calls it again (re-reading
        from the beginning changes nothing: a cut-off only moves forward)."""
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
                    self.revoked.apply(
                        payload_as(decode_payload(decode(message.value)), AccessRevoked)
                    )
                except (InvalidEvent, TypeError):
                    # Nothing to dead-letter to without a group; intake only publishes valid ones.
                    log.warning("unreadable revocation skipped", extra={"offset": message.offset})
                    continue
                applied += 1
        return applied
