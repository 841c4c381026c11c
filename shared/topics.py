"""The topics the platform owns, created explicitly (auto-creation is off on our brokers)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.contracts import (
    AUDIT_TOPIC,
    CASE_KEYS_TOPIC,
    CASE_TOPICS,
    HOSPITAL_OUTCOME_TOPIC,
    REVOCATION_TOPIC,
)
from shared.settings import StackSettings

DLQ_SUFFIX = ".dlq"
# Hospital systems emit `case.submitted` here; intake validates, de-duplicates and republishes
# it on `case.submitted`, so a duplicate hospital request never reaches the other services, and
# answers each one on `hospital.case.outcome`.
HOSPITAL_TOPIC = "hospital.case.submitted"
# Topics that outside systems write to, and the event type they carry.
INBOUND_TOPICS = {HOSPITAL_TOPIC: "case.submitted"}
HOUR_MS = 3600 * 1000
WEEK_MS = 7 * 24 * HOUR_MS
# What hospitals write is in clear (we cannot encrypt it for them) and intake republishes it on
# `case.submitted`, sealed with the case's key: so it is kept only long enough for intake to
# read it after an outage, and erased cases fall off it within this time.
HOSPITAL_TOPIC_RETENTION_MS = WEEK_MS
# The case keys topic keeps each case's latest record; a tombstone (erasure) must remove the
# key within a bounded time: the active segment is rolled hourly (it is never compacted), a
# dirty segment is compacted within a day at most, and the tombstone itself is kept an hour
# for the readers that follow the topic, then dropped too.
CASE_KEYS_COMPACTION = {
    "segment.ms": str(HOUR_MS),
    "min.compaction.lag.ms": "0",
    "max.compaction.lag.ms": str(24 * HOUR_MS),
    "delete.retention.ms": str(HOUR_MS),
    "min.cleanable.dirty.ratio": "0.01",
}
# Notify's own: the staff board's card changes, for every notify instance (board_feed.py).
BOARD_TOPIC = "notify.board"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int
    cleanup_policy: str = "delete"
    # Further topic configs (the compacted keys topic's), as Kafka names them.
    extra_configs: tuple[tuple[str, str], ...] = ()

    @property
    def configs(self) -> dict[str, str]:
        return {
            "retention.ms": str(self.retention_ms),
            "cleanup.policy": self.cleanup_policy,
            **dict(self.extra_configs),
        }

    def as_new_topic(self) -> NewTopic:
        return NewTopic(
            name=self.name,
            num_partitions=self.partitions,
            replication_factor=1,
            topic_configs=self.configs,
        )


def dlq_topic(topic: str) -> str:
    return f"{topic}{DLQ_SUFFIX}"


def event_type_of(topic: str) -> str:
    """The event type a topic carries (its own name, except for inbound topics)."""
    return INBOUND_TOPICS.get(topic, topic)


def platform_topics(stack: StackSettings, partitions: int = 6) -> list[TopicSpec]:
    """Every case topic and its dead-letter topic; case history is kept long enough to rebuild."""
    specs = []
    for event_type in CASE_TOPICS:
        name = stack.topic(event_type)
        # Case topics keep history so read models (the staff board) can be rebuilt from them;
        # the personal data in it is sealed with each case's key (shared/case_keys.py).
        specs.append(TopicSpec(name, partitions, retention_ms=-1))
        specs.append(TopicSpec(dlq_topic(name), 1, retention_ms=4 * WEEK_MS))
    for event_type in INBOUND_TOPICS:
        name = stack.topic(event_type)
        specs.append(TopicSpec(name, partitions, retention_ms=HOSPITAL_TOPIC_RETENTION_MS))
        specs.append(TopicSpec(dlq_topic(name), 1, retention_ms=HOSPITAL_TOPIC_RETENTION_MS))
    # Each case's data key, read whole by every service at start (no group, no dead letters).
    specs.append(
        TopicSpec(
            stack.topic(CASE_KEYS_TOPIC),
            1,
            retention_ms=-1,
            cleanup_policy="compact",
            extra_configs=tuple(sorted(CASE_KEYS_COMPACTION.items())),
        )
    )
    # The audit trail is kept for good on the topic too; the audit service's store is a copy.
    audit = stack.topic(AUDIT_TOPIC)
    specs.append(TopicSpec(audit, partitions, retention_ms=-1))
    specs.append(TopicSpec(dlq_topic(audit), 1, retention_ms=-1))
    # Link revocations are kept for good (every service reads them all at start); no consumer
    # group reads them, so there is no dead-letter topic.
    specs.append(TopicSpec(stack.topic(REVOCATION_TOPIC), 1, retention_ms=-1))
    # Hospitals' answers: read by the hospitals only (no consumer group of ours, no dead-letter
    # topic), kept long enough for a hospital system that was down for a while.
    specs.append(TopicSpec(stack.topic(HOSPITAL_OUTCOME_TOPIC), partitions, 4 * WEEK_MS))
    # Live cards only: a page that loads reads the timelines from notify's store.
    specs.append(TopicSpec(stack.topic(BOARD_TOPIC), 1, retention_ms=3600 * 1000))
    return specs


async def all_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """Every partition of `topic`, for a consumer that assigns them itself (no group)."""
    numbers = consumer.partitions_for_topic(topic)
    if not numbers:
        await consumer._client.force_metadata_update()  # no subscription fetches it for us
        numbers = consumer.partitions_for_topic(topic)
    if not numbers:
        raise RuntimeError(f"topic {topic} does not exist: run ensure_topics first")
    return [TopicPartition(topic, n) for n in sorted(numbers)]


async def ensure_topics(stack: StackSettings, specs: list[TopicSpec] | None = None) -> list[str]:
    """Create missing topics; returns the names it created. Safe to run from every service."""
    specs = specs if specs is not None else platform_topics(stack)
    admin = AIOKafkaAdminClient(
        bootstrap_servers=stack.kafka_bootstrap_servers, **stack.kafka_client_options()
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if missing:
            # Another service may create them at the same moment.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([s.as_new_topic() for s in missing])
        return [s.name for s in missing]
    finally:
        await admin.close()
