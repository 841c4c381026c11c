"""A publisher keeps working across a broker restart: sends fail while the broker is away (the
caller retries), and within seconds of its return sends succeed again, losing nothing."""

from __future__ import annotations

import asyncio
import time

import pytest

from shared.bus import KafkaEventPublisher
from shared.envelope import decode
from shared.settings import StackSettings
from tests.platform import start_server, stop_server
from tests.support import sample_event
from tests.topic_reading import read_topic

pytestmark = [pytest.mark.real, pytest.mark.timeout(300)]


async def test_a_publisher_recovers_after_the_broker_restarts(topics: StackSettings) -> None:
    # Shorter than the outage, as a real outage is longer than the default: batches expire.
    publisher = KafkaEventPublisher(topics, request_timeout_ms=3000)
    await publisher.start()
    acknowledged: list[str] = []
    failures = 0
    broker_back = asyncio.Event()
    first_success_after_restart: list[float] = []

    async def relay(lane: int) -> None:
        """Publishes like an outbox relay: one event after another, retrying what failed."""
        nonlocal failures
        n = 0
        while len(first_success_after_restart) == 0 or n < 30:
            event = sample_event(f"recover-{lane}-{n:04d}")
            try:
                await publisher.publish([event])
            except Exception:
                failures += 1
                await asyncio.sleep(0.5)
                continue
            acknowledged.append(event.id)
            if broker_back.is_set() and not first_success_after_restart:
                first_success_after_restart.append(time.monotonic())
            n += 1
            await asyncio.sleep(0.05)

    try:
        lanes = [asyncio.create_task(relay(lane)) for lane in range(3)]
        await asyncio.sleep(1)
        await asyncio.to_thread(stop_server, "kafka")
        await asyncio.sleep(6)  # sends fail (or hang until the publisher gives up) meanwhile
        await asyncio.to_thread(start_server, "kafka")
        back_at = time.monotonic()
        broker_back.set()
        async with asyncio.timeout(120):
            await asyncio.gather(*lanes)
        recovered_in = first_success_after_restart[0] - back_at
        assert recovered_in < 60, f"first acknowledged send {recovered_in:.1f}s after restart"
    finally:
        await publisher.stop()

    assert failures > 0  # the outage was felt
    on_topic = {
        decode(r.value).id for r in await read_topic(topics, topics.topic("case.submitted"))
    }
    assert set(acknowledged) <= on_topic  # every acknowledged event is there
