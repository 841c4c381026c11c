"""Consumer lag and last-processed time, as a consumer runner sees them after each fetch.

Lag is the partition's high-water mark (known from the fetch responses the consumer gets anyway)
minus the group's position, so it costs no broker round trip. Only the partitions this process
is assigned are reported; after a rebalance the ones it lost are removed, so summing a group's
series across processes never counts a partition twice."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from shared.metrics import CONSUMER_LAG, CONSUMER_LAST_PROCESSED

# A lag gauge is refreshed at most this often per runner: each fetch (up to five a second)
# need not walk the assignment.
REFRESH_S = 1.0


class LagObserver:
    def __init__(self, group_id: str) -> None:
        self._group = group_id
        self._reported: set[TopicPartition] = set()
        self._last_refresh = 0.0

    async def observe(
        self, consumer: AIOKafkaConsumer, batches: Mapping[TopicPartition, list[Any]]
    ) -> None:
        """After a fetch (and the processing of its batches): note when each topic was last
        processed, and refresh the lag of every assigned partition."""
        now = time.time()
        for topic in {tp.topic for tp, messages in batches.items() if messages}:
            CONSUMER_LAST_PROCESSED.labels(self._group, topic).set(now)
        if now - self._last_refresh < REFRESH_S:
            return
        self._last_refresh = now
        assigned = set(consumer.assignment())
        for tp in assigned:
            lag = await _lag(consumer, tp)
            if lag is not None:
                CONSUMER_LAG.labels(self._group, tp.topic, str(tp.partition)).set(lag)
                self._reported.add(tp)
        for tp in self._reported - assigned:
            self._remove(tp)

    def forget(self) -> None:
        """The runner stops: its partitions are someone else's now."""
        for tp in list(self._reported):
            self._remove(tp)

    def _remove(self, tp: TopicPartition) -> None:
        self._reported.discard(tp)
        with contextlib.suppress(KeyError):
            CONSUMER_LAG.remove(self._group, tp.topic, str(tp.partition))


async def _lag(consumer: AIOKafkaConsumer, tp: TopicPartition) -> int | None:
    """None while the partition has no known high-water mark or position (just assigned)."""
    try:
        highwater = consumer.highwater(tp)
        if highwater is None:
            return None
        # Immediate when the position is known; it only waits right after an assignment.
        async with asyncio.timeout(0.05):
            position = await consumer.position(tp)
    except (AssertionError, KafkaError, TimeoutError):
        return None
    return max(0, int(highwater) - int(position))
