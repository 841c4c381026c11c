"""Publishing to the event bus: the port, its Kafka adapter and an in-memory fake."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from shared.case_keys import CaseCipher
from shared.contracts import CASE_KEYS_TOPIC
from shared.envelope import CloudEvent, encode
from shared.settings import StackSettings
from shared.tracing import event_trace_fields, kafka_headers

log = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]
T = TypeVar("T")


async def next_batch(queue: asyncio.Queue[T], stop: asyncio.Event, limit: int) -> list[T]:
    """For a task publishing what others queue: wait for the first item (or `stop`), then take
    what else is queued, up to `limit`. Empty when `stop` came first."""
    waiter = asyncio.ensure_future(queue.get())
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({waiter, stopping}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        if not waiter.done():
            waiter.cancel()
        elif not waiter.cancelled():
            with contextlib.suppress(asyncio.QueueFull):  # taken but not handed over: put back
                queue.put_nowait(waiter.result())
        raise
    finally:
        stopping.cancel()
    if not waiter.done():
        waiter.cancel()
        return []
    batch = [waiter.result()]
    while len(batch) < limit and not queue.empty():
        batch.append(queue.get_nowait())
    return batch


@dataclass(frozen=True)
class OutgoingRecord:
    topic: str
    key: bytes
    value: bytes | None  # None: a tombstone (a compacted topic forgets the key)
    headers: Headers = field(default_factory=list)


async def sealed_records(
    events: Sequence[CloudEvent], stack: StackSettings, cipher: CaseCipher | None
) -> list[OutgoingRecord]:
    """The records of these events, each case event's data sealed with its case's key (an
    event of an erased case is dropped: shared/case_keys.py)."""
    records = []
    if cipher is not None:
        cipher.learn_keys(events)
    for event in events:
        sealed = await cipher.seal(event) if cipher is not None else event
        if sealed is not None:
            records.append(to_record(sealed, stack))
    return records


class EventPublisher(Protocol):
    async def publish(self, events: Sequence[CloudEvent]) -> None:
        """Publish events to their topics keyed by case id; returns once all are acknowledged."""

    async def send_records(self, records: Sequence[OutgoingRecord]) -> None:
        """Send raw records (dead letters keep the original bytes); returns once acknowledged."""


def to_record(event: CloudEvent, stack: StackSettings) -> OutgoingRecord:
    # Keyed by case id, so every event of one case lands on one partition, in order.
    if event.type == CASE_KEYS_TOPIC and event.data.get("wrapped_key") is None:
        # The case's key is destroyed: its tombstone, so compaction removes the key itself.
        return OutgoingRecord(topic=stack.topic(event.type), key=event.subject.encode(), value=None)
    return OutgoingRecord(
        topic=stack.topic(event.type),
        key=event.subject.encode(),
        value=encode(event),
        headers=[
            ("content-type", b"application/cloudevents+json"),
            *kafka_headers(event_trace_fields(event)),
        ],
    )


class KafkaEventPublisher:
    """acks=all with idempotence, so a retried send never duplicates or reorders a partition.

    A send that fails or times out discards the producer and the next call builds a fresh one:
    after a broker outage an idempotent aiokafka producer can stay broken for good (a batch
    that expired while no leader was known has used up its sequence numbers, so every later
    batch on that partition is out of order). The failing call still raises; callers retry.
    """

    def __init__(
        self, stack: StackSettings, *, linger_ms: int = 5, request_timeout_ms: int = 15000
    ) -> None:
        self._stack = stack
        # Every case event's personal data leaves the process sealed with its case's key.
        self.cipher = CaseCipher(stack)
        self._linger_ms = linger_ms
        self._request_timeout_ms = request_timeout_ms
        # Bounded: a send that cannot complete in this time fails instead of hanging.
        self._send_timeout_s = request_timeout_ms / 1000 * 2
        self._close_timeout_s = 5.0
        self._producer: AIOKafkaProducer | None = None
        self._starting = asyncio.Lock()

    async def start(self) -> None:
        await self._current()

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await self._close(producer)

    async def publish(self, events: Sequence[CloudEvent]) -> None:
        await self.send_records(await sealed_records(events, self._stack, self.cipher))

    async def send_records(self, records: Sequence[OutgoingRecord]) -> None:
        if not records:
            return
        producer = await self._current()
        try:
            # One deadline for the metadata wait inside send(), queueing and the acks.
            async with asyncio.timeout(self._send_timeout_s):
                # Queue everything first so the producer batches, then wait for every ack.
                futures = [
                    await producer.send(r.topic, r.value, key=r.key, headers=r.headers)
                    for r in records
                ]
                await asyncio.gather(*futures)
        except (KafkaError, TimeoutError) as exc:
            log.warning("send failed; replacing the Kafka producer", exc_info=exc)
            await self._discard(producer)
            raise

    async def _current(self) -> AIOKafkaProducer:
        """The live producer, started now if the last one was discarded."""
        async with self._starting:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._stack.kafka_bootstrap_servers,
                    **self._stack.kafka_client_options(),
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=self._linger_ms,
                    request_timeout_ms=self._request_timeout_ms,
                    max_batch_size=1024 * 1024,
                )
                try:
                    async with asyncio.timeout(self._send_timeout_s):
                        await producer.start()
                except BaseException:
                    await self._close(producer)
                    raise
                self._producer = producer
            return self._producer

    async def _discard(self, producer: AIOKafkaProducer) -> None:
        if self._producer is producer:  # a concurrent failure may have replaced it already
            self._producer = None
            await self._close(producer)

    async def _close(self, producer: AIOKafkaProducer) -> None:
        """Stop a producer, flushing what it can in a bounded time, then drop the rest."""
        try:
            async with asyncio.timeout(self._close_timeout_s):
                await producer.stop()
        except Exception as exc:
            # stop() waits for every pending batch, which an idempotent producer retries
            # forever; aiokafka has no "close without flush", so end its sender task here.
            log.warning("Kafka producer did not stop in time; dropping it", exc_info=exc)
            sender = getattr(getattr(producer, "_sender", None), "sender_task", None)
            if sender is not None:
                sender.cancel()
            accumulator = getattr(producer, "_message_accumulator", None)
            if accumulator is not None:  # resolves the futures of batches never delivered
                accumulator.fail_all(KafkaError("the producer was replaced"))
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self._close_timeout_s):
                    await producer.client.close()


class InMemoryEventPublisher:
    """Fake publisher for unit tests: keeps what was sent, can be told to fail; seals case
    events only when given a cipher (most tests read the events they publish)."""

    def __init__(
        self, stack: StackSettings | None = None, *, cipher: CaseCipher | None = None
    ) -> None:
        self._stack = stack or StackSettings()
        self.cipher = cipher
        self.records: list[OutgoingRecord] = []
        self.fail_next: Exception | None = None

    async def publish(self, events: Sequence[CloudEvent]) -> None:
        await self.send_records(await sealed_records(events, self._stack, self.cipher))

    async def send_records(self, records: Sequence[OutgoingRecord]) -> None:
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        self.records.extend(records)

    def on_topic(self, topic: str) -> list[OutgoingRecord]:
        return [r for r in self.records if r.topic == topic]
