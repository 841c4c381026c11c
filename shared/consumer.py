"""The consumer runner: batches from Kafka, one handler per event type, dead letters, and
offsets committed only after the batch's effects are durable."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from pymongo.errors import ConnectionFailure, ExecutionTimeout, WriteConcernError

from shared.bus import EventPublisher, OutgoingRecord
from shared.case_keys import CaseCipher, CaseKeyError
from shared.contracts import decode_payload
from shared.envelope import CloudEvent, InvalidEvent, Payload, decode
from shared.erasure import ERASABLE_TYPES, ERASED_CASES
from shared.metrics import DEAD_LETTERS, EVENTS_CONSUMED, HANDLER_SECONDS
from shared.metrics_lag import LagObserver
from shared.settings import StackSettings
from shared.topics import dlq_topic, event_type_of
from shared.tracing import consuming

log = logging.getLogger(__name__)


class PermanentError(Exception):
    """Raised by a handler for an event that can never succeed; the message must be PHI-free."""


class TransientError(Exception):
    """Raised by a handler when a dependency is briefly unavailable; the event is retried."""


# Infrastructure failures: retrying later can succeed, so these never send an event to the DLQ.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientError,
    # A case key this process cannot unwrap: its key-encryption secrets are wrong or missing;
    # retried (the partition waits, readiness says so) rather than dead-lettered.
    CaseKeyError,
    ConnectionFailure,
    ExecutionTimeout,
    WriteConcernError,
    KafkaError,
    OSError,
    TimeoutError,
)


@dataclass(frozen=True)
class Delivery:
    """One valid event handed to a handler, with where it came from."""

    event: CloudEvent
    payload: Payload
    topic: str
    partition: int
    offset: int


Handler = Callable[[Delivery], Awaitable[None]]
# Told of a message that failed validation (the record as read, and why) before its DLQ.
InvalidHandler = Callable[[ConsumerRecord[bytes, bytes], InvalidEvent], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    base_delay_s: float = 0.05
    max_delay_s: float = 5.0

    def delay(self, attempt: int) -> float:
        # Full jitter keeps many consumers from retrying in lock-step.
        return random.uniform(0, min(self.max_delay_s, self.base_delay_s * 2**attempt))


class _RetryLater(Exception):
    """Internal: stop this partition's batch here and fetch the message again later."""


class ConsumerRunner:
    """Runs one consumer group over the topics of the given handlers until `stop` is set.

    `handlers` maps a topic name (e.g. `records.ready`) to the handler of its events.
    """

    def __init__(
        self,
        *,
        stack: StackSettings,
        group_id: str,
        handlers: Mapping[str, Handler],
        publisher: EventPublisher,
        retry: RetryPolicy | None = None,
        max_records: int = 500,
        client_id: str | None = None,
        prefetch: Callable[[Sequence[str]], Awaitable[None]] | None = None,
        prefetch_topics: Collection[str] | None = None,
        on_invalid: Mapping[str, InvalidHandler] | None = None,
    ) -> None:
        self._stack = stack
        self._group_id = group_id
        # Handlers are keyed by topic (without namespace); most topics carry their own type.
        self._handlers = {stack.topic(topic): h for topic, h in handlers.items()}
        self._type_of_topic = {stack.topic(topic): event_type_of(topic) for topic in handlers}
        self._publisher = publisher
        self._retry = retry or RetryPolicy()
        self._max_records = max_records
        self._client_id = client_id or group_id
        # Told the case ids (message keys) of each batch before its handlers run, so a store
        # can read them all in one query (CaseDocuments.preload).
        self._prefetch = prefetch
        # Only the topics whose handlers read the case (None: all of them).
        self._prefetch_topics = (
            None if prefetch_topics is None else {stack.topic(t) for t in prefetch_topics}
        )
        # Told of a message a topic's handler never sees (it fails validation), before it is
        # dead-lettered: a topic whose senders are outside systems answers them (intake).
        self._on_invalid = {stack.topic(t): h for t, h in (on_invalid or {}).items()}
        # Opens the events sealed with their case's key before a handler sees them.
        self._cipher = CaseCipher(stack)
        self._consumer: AIOKafkaConsumer | None = None
        self._healthy = False
        self._broker_reachable = False
        self._stalled_rounds = 0
        self._lag = LagObserver(group_id)

    @property
    def ready(self) -> bool:
        """True once subscribed, while the broker answers, and while no partition is stuck on
        a transient failure."""
        return self._healthy and self._broker_reachable

    @property
    def assignment(self) -> frozenset[TopicPartition]:
        """The partitions this process consumes now: its share of the group's."""
        return frozenset(self._consumer.assignment()) if self._consumer else frozenset()

    async def run(self, stop: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(
            *self._type_of_topic,
            bootstrap_servers=self._stack.kafka_bootstrap_servers,
            **self._stack.kafka_client_options(),
            group_id=self._group_id,
            client_id=self._client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_interval_ms=300_000,
        )
        self._consumer = consumer
        await consumer.start()
        self._healthy = self._broker_reachable = True
        # getmany() waits quietly through a broker outage; a metadata round trip notices it.
        watch = asyncio.create_task(self._watch_broker(consumer, stop))
        try:
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=200, max_records=self._max_records)
                if batches:
                    await self._process_batches(consumer, batches)
                await self._lag.observe(consumer, batches)
        finally:
            self._lag.forget()
            self._healthy = False
            watch.cancel()
            await consumer.stop()

    async def _watch_broker(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(consumer.topics(), timeout=3)
                self._broker_reachable = True
            except Exception:  # any failure means "not reachable now"
                self._broker_reachable = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=2)

    async def _process_batches(
        self, consumer: AIOKafkaConsumer, batches: Mapping[TopicPartition, list[ConsumerRecord]]
    ) -> None:
        if self._prefetch is not None:
            keys = {
                m.key.decode(errors="replace")
                for tp, ms in batches.items()
                if self._prefetch_topics is None or tp.topic in self._prefetch_topics
                for m in ms
                if m.key
            }
            try:
                if keys:
                    await self._prefetch(sorted(keys))
            except TRANSIENT_ERRORS as exc:
                # Only a shortcut: each handler reads what it needs anyway.
                log.warning("prefetch failed", exc_info=exc)
        # Partitions are independent, so they are processed concurrently; order holds within each.
        partitions = list(batches)
        results = await asyncio.gather(*(self._process_partition(batches[tp]) for tp in partitions))
        commit: dict[TopicPartition, int] = {}
        stalled = False
        for tp, (next_offset, stopped_at) in zip(partitions, results, strict=True):
            if next_offset is not None:
                commit[tp] = next_offset
            if stopped_at is not None:
                stalled = True
                consumer.seek(tp, stopped_at)
        if commit:
            try:
                await consumer.commit(commit)
            except CommitFailedError:
                # The group rebalanced: the new owner re-reads from the last commit and our
                # applied-event records make the repeat a no-op.
                log.warning("commit failed after a rebalance", extra={"group": self._group_id})
        if stalled:
            self._healthy = False
            self._stalled_rounds += 1
            await asyncio.sleep(self._retry.delay(min(self._stalled_rounds, 8)) + 0.1)
        else:
            self._healthy = True
            self._stalled_rounds = 0

    async def _process_partition(
        self, messages: list[ConsumerRecord]
    ) -> tuple[int | None, int | None]:
        """Returns (offset to commit, offset to re-read from if a transient failure stopped us)."""
        next_offset: int | None = None
        for message in messages:
            try:
                await self._process(message)
            except _RetryLater:
                return next_offset, message.offset
            next_offset = message.offset + 1
        return next_offset, None

    async def _process(self, message: ConsumerRecord) -> None:
        try:
            delivery = await self._accept(message)
        except TRANSIENT_ERRORS as exc:
            log.warning(
                "event not opened; will retry", extra={"offset": message.offset}, exc_info=exc
            )
            raise _RetryLater from exc
        except InvalidEvent as invalid:
            told = self._on_invalid.get(message.topic)
            if told is not None:
                try:
                    await told(message, invalid)
                except TRANSIENT_ERRORS as exc:
                    raise _RetryLater from exc
            await self._dead_letter(message, invalid.reason, invalid.detail)
            return
        if delivery is None:
            return  # an event of an erased case, skipped (and counted) in `_accept`
        # The handler runs in a CONSUMER span continuing the trace the event carries.
        with consuming(delivery.event, message.headers, group=self._group_id):
            await self._handle(message, delivery)

    @staticmethod
    def _erased(event: CloudEvent) -> bool:
        # Erased: a late or replayed event must not bring the personal data back. Only case
        # events: the audit trail (`audit.access`) keeps who did what, after too.
        return event.type in ERASABLE_TYPES and event.subject in ERASED_CASES

    async def _handle(self, message: ConsumerRecord, delivery: Delivery) -> None:
        event = delivery.event
        handler = self._handlers[message.topic]
        ids = {"case_id": event.subject, "event_id": event.id, "event_type": event.type}
        for attempt in range(1, self._retry.attempts + 1):
            started = time.perf_counter()
            try:
                await handler(delivery)
            except PermanentError as rejected:
                await self._dead_letter(message, "rejected", str(rejected), event)
                return
            except TRANSIENT_ERRORS as exc:
                log.warning("transient failure", extra={**ids, "attempt": attempt}, exc_info=exc)
                if attempt == self._retry.attempts:
                    EVENTS_CONSUMED.labels(event.type, "retry_later").inc()
                    raise _RetryLater from exc
            except Exception as exc:
                log.error("handler failed", extra={**ids, "attempt": attempt}, exc_info=exc)
                if attempt == self._retry.attempts:
                    detail = f"{type(exc).__name__} on each of {attempt} attempts"
                    await self._dead_letter(message, "handler_failed", detail, event)
                    return
            else:
                HANDLER_SECONDS.labels(event.type).observe(time.perf_counter() - started)
                EVENTS_CONSUMED.labels(event.type, "applied").inc()
                return
            await asyncio.sleep(self._retry.delay(attempt))

    async def _accept(self, message: ConsumerRecord) -> Delivery | None:
        """Validation at the edge: envelope, type for this topic, key, then the data opened
        with the case's key if sealed, and the payload schema. None: the case was erased (its
        key is destroyed), so the event is skipped unread."""
        event = decode(message.value)
        expected = self._type_of_topic[message.topic]
        if event.type != expected:
            raise InvalidEvent("type_mismatch", f"event type must be {expected!r} on this topic")
        if message.key is None or message.key.decode(errors="replace") != event.subject:
            raise InvalidEvent("key_mismatch", "the message key must equal the event subject")
        opened = None if self._erased(event) else await self._cipher.open(event)
        if opened is None:
            log.info("event of an erased case skipped", extra={"event_id": event.id})
            EVENTS_CONSUMED.labels(event.type, "erased").inc()
            return None
        event = opened
        payload = decode_payload(event)
        return Delivery(event, payload, message.topic, message.partition, message.offset)

    async def _dead_letter(
        self,
        message: ConsumerRecord,
        reason: str,
        detail: str,
        event: CloudEvent | None = None,
    ) -> None:
        headers = [
            *list(message.headers or []),
            ("dlq.reason", reason.encode()),
            ("dlq.detail", detail.encode()),
            ("dlq.original.topic", message.topic.encode()),
            ("dlq.original.partition", str(message.partition).encode()),
            ("dlq.original.offset", str(message.offset).encode()),
            ("dlq.consumer.group", self._group_id.encode()),
            ("dlq.failed.at", datetime.now(UTC).isoformat().encode()),
        ]
        record = OutgoingRecord(
            topic=dlq_topic(message.topic),
            key=message.key or b"",
            value=message.value or b"",
            headers=headers,
        )
        try:
            await self._publisher.send_records([record])
        except TRANSIENT_ERRORS as exc:
            raise _RetryLater from exc
        DEAD_LETTERS.labels(message.topic, reason).inc()
        EVENTS_CONSUMED.labels(event.type if event else "unknown", "dead_lettered").inc()
        log.warning(
            "message sent to dead-letter topic",
            extra={
                "reason": reason,
                "topic": message.topic,
                "partition": message.partition,
                "offset": message.offset,
                "case_id": event.subject if event else None,
                "event_id": event.id if event else None,
            },
        )
