"""Rebuilding the timeline from the topics: every case topic read from the beginning up to
where it ended when the rebuild started, without a consumer group (so the live consumer's
committed offsets, and with them the emails and webhooks already sent, are untouched)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.notify.domain.timeline import CaseTimeline
from services.notify.handlers import CONSUMED_TYPES, record_timeline
from services.notify.store import NotifyStore
from shared.contracts import decode_payload
from shared.envelope import InvalidEvent, decode
from shared.settings import StackSettings

log = logging.getLogger(__name__)


async def rebuild_timeline(
    *,
    stack: StackSettings,
    store: NotifyStore,
    on_timeline: Callable[[CaseTimeline], None] | None = None,
) -> int:
    """Replay every case topic into the timeline; returns how many events were applied."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.kafka_bootstrap_servers,
        **stack.kafka_client_options(),
        enable_auto_commit=False,
    )
    await consumer.start()
    applied = 0
    try:
        partitions: list[TopicPartition] = []
        for event_type in CONSUMED_TYPES:
            topic = stack.topic(event_type)
            numbers = consumer.partitions_for_topic(topic) or await _partitions(consumer, topic)
            partitions += [TopicPartition(topic, n) for n in sorted(numbers)]
        if not partitions:
            return 0
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp, end in ends.items() if end > 0}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=500, max_records=500)
            for tp, messages in batches.items():
                for message in messages:
                    if message.offset < ends[tp]:
                        applied += await _apply(store, message.value, on_timeline)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    log.info("timeline rebuilt from the topics", extra={"count": applied})
    return applied


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # the consumer has no subscription yet
    return consumer.partitions_for_topic(topic) or set()


async def _apply(
    store: NotifyStore, raw: bytes | None, on_timeline: Callable[[CaseTimeline], None] | None
) -> int:
    try:
        event = decode(raw)
        decode_payload(event)
    except InvalidEvent:
        return 0  # the live consumer sent it to the dead-letter topic
    timeline = await record_timeline(store, event)
    if on_timeline is not None:
        on_timeline(timeline)
    return 1
