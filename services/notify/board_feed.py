"""The staff board across notify instances: every card change goes through a topic of its own.

Each notify instance consumes a share of the case topics (one consumer group), but a browser
is connected to one instance and must see every case's changes. So the instance whose consumer
changed a timeline publishes the card on `notify.board` (`BoardBroadcaster`), and every
instance follows that topic from its end, with no group (`BoardFeed`), and hands each card to
its own hub. One instance or ten, a card reaches the board the same way.

The topic carries what the board shows (case id, initials, age, specialty, stage), keeps an
hour, and only notify may read or write it. A card lost to a broker outage is corrected by the
next change of that case, or by a page reload, which reads the timelines from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from services.notify.hub import BoardHub
from shared.bus import EventPublisher, OutgoingRecord, next_batch
from shared.settings import StackSettings
from shared.topics import BOARD_TOPIC, all_partitions

log = logging.getLogger(__name__)


class BoardBroadcaster:
    """Queues card changes from the consumer's handlers and publishes them in batches; a full
    queue drops the oldest card (the board is a live view, the store holds the truth)."""

    def __init__(
        self, publisher: EventPublisher, stack: StackSettings, *, capacity: int = 10_000
    ) -> None:
        self._publisher = publisher
        self._topic = stack.topic(BOARD_TOPIC)
        self._queue: asyncio.Queue[OutgoingRecord] = asyncio.Queue(maxsize=capacity)

    def publish(self, event: str, data: Any, audiences: frozenset[str] = frozenset()) -> None:
        """The same call as `BoardHub.publish`; the card goes to every instance's hub."""
        frame = {"event": event, "data": data, "audiences": sorted(audiences)}
        key = str(data.get("case_id", "")).encode() if isinstance(data, dict) else b""
        record = OutgoingRecord(self._topic, key, orjson.dumps(frame))
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(record)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            batch = await next_batch(self._queue, stop, 500)
            if not batch:
                return
            try:
                await self._publisher.send_records(batch)
            except Exception as exc:  # the broker is away: these cards are skipped
                log.warning("board cards not broadcast", extra={"count": len(batch)}, exc_info=exc)


class BoardFeed:
    """Follows `notify.board` from its end (no group: every instance reads every card) and
    publishes each card on this instance's hub."""

    def __init__(self, hub: BoardHub, stack: StackSettings, *, poll_ms: int = 500) -> None:
        self._hub = hub
        self._stack = stack
        self._topic = stack.topic(BOARD_TOPIC)
        self._poll_ms = poll_ms
        self.ready = False

    async def run(self, stop: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._stack.kafka_bootstrap_servers,
            **self._stack.kafka_client_options(),
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            partitions = await all_partitions(consumer, self._topic)
            consumer.assign(partitions)
            await consumer.seek_to_end(*partitions)
            for partition in partitions:  # resolve the end now, not at the first fetch
                await consumer.position(partition)
            self.ready = True
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=self._poll_ms)
                for messages in batches.values():
                    for message in messages:
                        self._show(message.value, message.offset)
        finally:
            self.ready = False
            with contextlib.suppress(Exception):
                await consumer.stop()

    def _show(self, value: bytes | None, offset: int) -> None:
        try:
            frame = orjson.loads(value or b"")
            self._hub.publish(frame["event"], frame["data"], frozenset(frame["audiences"]))
        except (orjson.JSONDecodeError, KeyError, TypeError):
            log.warning("unreadable board card skipped", extra={"offset": offset})
