"""Reading whole platform topics in tests: every record from the beginning to the current end."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CoordinatorLoadInProgressError, GroupCoordinatorNotAvailableError

from shared.case_keys import CaseCipher, CaseKeyReader, CaseKeyring
from shared.envelope import CloudEvent, decode
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


async def events_on(stack: StackSettings, event_type: str, case_id: str) -> list[CloudEvent]:
    """Every event of one case on a topic (duplicates included), from the beginning to now,
    opened as a service reads them (tests/topic_reading.py `opened`)."""
    return await opened(stack, await sealed_events_on(stack, event_type, case_id))


async def sealed_events_on(stack: StackSettings, event_type: str, case_id: str) -> list[CloudEvent]:
    """As `events_on`, as they are on the topic: case events sealed with their case's key."""
    records = await read_topic(stack, stack.topic(event_type), within=15)
    events = [decode(record.value) for record in records]
    return [e for e in events if e.subject == case_id]


async def keyring_from_topic(stack: StackSettings) -> CaseKeyring:
    """The cases' keys as a process that starts now learns them: `case.keys` read whole."""
    keyring = CaseKeyring()
    reader = CaseKeyReader(stack, keyring)
    try:
        await reader.catch_up(within_s=30)
    finally:
        await reader.close()
    return keyring


async def opened(stack: StackSettings, events: list[CloudEvent]) -> list[CloudEvent]:
    """The events with their data in clear, as a process that starts now reads them: the
    cases' keys read from `case.keys` from the beginning; an event whose key was destroyed
    (an erased case) is left out."""
    if not any(e.sealed for e in events):
        return events
    cipher = CaseCipher(stack, await keyring_from_topic(stack))
    return [e for e in [await cipher.open(event) for event in events] if e is not None]


async def consumed_everything(stack: StackSettings, group: str, event_type: str) -> bool:
    """True once the consumer group has committed every message on the topic."""
    topic = stack.topic(event_type)
    (spec,) = [s for s in platform_topics(stack) if s.name == topic]
    partitions = [TopicPartition(topic, p) for p in range(spec.partitions)]
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap_servers)
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap_servers)
    await admin.start()
    await consumer.start()
    try:
        try:
            committed = await admin.list_consumer_group_offsets(group)
        except (GroupCoordinatorNotAvailableError, CoordinatorLoadInProgressError):
            return False  # a fresh broker is still creating its offsets topic
        ends = await consumer.end_offsets(partitions)
        return all(
            end == 0 or (tp in committed and committed[tp].offset >= end)
            for tp, end in ends.items()
        )
    finally:
        await consumer.stop()
        await admin.close()
