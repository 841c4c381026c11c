"""The outbox relay and the unit of work's applied-event records against the real
MongoDB-compatible server and Kafka: an event survives a relay crash between publish and mark,
and its effect happens once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest
from aiokafka import AIOKafkaConsumer
from prometheus_client import REGISTRY
from pymongo import AsyncMongoClient

from shared.bus import InMemoryEventPublisher, KafkaEventPublisher, OutgoingRecord
from shared.consumer import ConsumerRunner, Delivery
from shared.envelope import CloudEvent, event_json
from shared.mongo import Document, connect
from shared.outbox import OUTBOX_FIELD, OutboxRelay, outbox_set, pending_filter
from shared.settings import StackSettings
from shared.unit_of_work import CaseDocuments, Change, Loaded, Tracking
from tests.support import eventually, sample_event

pytestmark = pytest.mark.real


class RelayCrash(Exception):
    pass


class CrashAfterPublish:
    """Publishes for real, then dies before the relay can mark the events sent."""

    def __init__(self, inner: KafkaEventPublisher) -> None:
        self.inner = inner

    async def publish(self, events: Sequence[CloudEvent]) -> None:
        await self.inner.publish(events)
        raise RelayCrash

    async def send_records(self, records: Sequence[OutgoingRecord]) -> None:
        await self.inner.send_records(records)


@pytest.fixture
async def mongo(stack: StackSettings) -> AsyncIterator[AsyncMongoClient[Document]]:
    client = connect(stack, app_name="tests")
    yield client
    await client.drop_database(stack.database("outbox"))
    await client.close()


async def test_an_event_is_applied_exactly_once_when_the_relay_dies_between_publish_and_mark(
    topics: StackSettings, publisher: KafkaEventPublisher, mongo: AsyncMongoClient[Document]
) -> None:
    db = mongo[topics.database("outbox")]
    cases, effects = db["cases"], db["effects"]
    event = sample_event("case-outbox")
    # The state change and its event: one single-document write.
    await cases.update_one(
        {"_id": "case-outbox"},
        {"$set": {"stage": "submitted", **outbox_set([event])}},
        upsert=True,
    )

    with pytest.raises(RelayCrash):
        await OutboxRelay(collection=cases, publisher=CrashAfterPublish(publisher)).relay_once()
    assert await cases.count_documents(pending_filter()) == 1  # still pending: not marked

    # The restarted relay publishes the same event again and this time marks it.
    assert await OutboxRelay(collection=cases, publisher=publisher).relay_once() == 1
    assert await cases.count_documents(pending_filter()) == 0
    assert (await cases.find_one({"_id": "case-outbox"}) or {})["stage"] == "submitted"

    def count_up(loaded: Loaded) -> Change:
        return Change({"times_applied": (loaded.state or {}).get("times_applied", 0) + 1})

    async def count_effect(delivery: Delivery) -> None:
        tracking = Tracking("effects", delivery.event.id)
        await CaseDocuments(effects).change(delivery.event.subject, count_up, tracking=tracking)

    runner = ConsumerRunner(
        stack=topics,
        group_id=topics.topic("effects"),
        handlers={"case.submitted": count_effect},
        publisher=publisher,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        copies = await eventually(lambda: _copies_on_topic(topics, event.id, 2))
        assert copies == 2  # the duplicate really reached the topic
        await eventually(lambda: _applied(effects, "case-outbox", event.id))
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    effect = await effects.find_one({"_id": "case-outbox"})
    assert effect is not None
    assert effect["times_applied"] == 1
    assert effect["applied"] == {"effects": [event.id]}


async def _copies_on_topic(stack: StackSettings, event_id: str, at_least: int) -> int:
    consumer = AIOKafkaConsumer(
        stack.topic("case.submitted"),
        bootstrap_servers=stack.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=1000)
        copies = sum(event_id.encode() in m.value for ms in batch.values() for m in ms)
        return copies if copies >= at_least else 0
    finally:
        await consumer.stop()


async def _applied(effects, case_id: str, event_id: str) -> bool:  # type: ignore[no-untyped-def]
    doc = await effects.find_one({"_id": case_id})
    return bool(doc and event_id in doc.get("applied", {}).get("effects", []))


async def test_events_handed_over_go_out_unread_and_leave_the_outbox_in_one_later_write(
    topics: StackSettings, mongo: AsyncMongoClient[Document]
) -> None:
    collection = mongo[topics.database("outbox-handed")]["cases"]
    publisher = InMemoryEventPublisher(topics)
    relay = OutboxRelay(collection=collection, publisher=publisher)
    try:
        events = {doc_id: sample_event(f"case-{doc_id}") for doc_id in ("a", "b")}
        for doc_id, event in events.items():
            await collection.insert_one(
                {"_id": doc_id, OUTBOX_FIELD: {event.id: event_json(event)}}
            )
            relay.nudge(doc_id, [event])
        await collection.delete_one({"_id": "b"})  # proof that nothing was read back
        assert await relay.relay_once(sweep=False, remove=False) == 2
        assert sorted(r.key for r in publisher.records) == [b"case-a", b"case-b"]
        assert await collection.count_documents(pending_filter()) == 1  # not removed yet
        assert await relay.relay_once(sweep=True, remove=False) == 0  # known as published
        await relay.remove_published()
        assert await collection.count_documents(pending_filter()) == 0
        assert len(publisher.records) == 2
    finally:
        await mongo.drop_database(topics.database("outbox-handed"))


async def test_a_pass_reads_the_nudged_documents_and_a_sweep_finds_the_rest(
    topics: StackSettings, mongo: AsyncMongoClient[Document]
) -> None:
    collection = mongo[topics.database("outbox-nudge")]["cases"]
    publisher = InMemoryEventPublisher(topics)
    relay = OutboxRelay(collection=collection, publisher=publisher)
    try:
        nudged, forgotten = sample_event("case-n"), sample_event("case-f")
        for doc_id, event in (("n#1", nudged), ("f#1", forgotten)):
            pending = {event.id: event.model_dump(mode="json")}
            await collection.insert_one({"_id": doc_id, OUTBOX_FIELD: pending})
        relay.nudge("n#1")  # by `_id`; the other document was never named
        assert await relay.relay_once(sweep=False) == 1
        assert [r.key for r in publisher.records] == [b"case-n"]
        assert await relay.relay_once(sweep=False) == 0  # nothing named any more
        assert await relay.relay_once(sweep=True) == 1  # what a crashed writer left behind
        assert [r.key for r in publisher.records] == [b"case-n", b"case-f"]
        assert await collection.count_documents(pending_filter()) == 0
    finally:
        await mongo.drop_database(topics.database("outbox-nudge"))


class BrokerDown:
    async def publish(self, events: Sequence[CloudEvent]) -> None:
        raise ConnectionError("broker down")

    async def send_records(self, records: Sequence[OutgoingRecord]) -> None:
        raise ConnectionError("broker down")


async def test_the_backlog_and_its_oldest_age_show_while_publishing_fails(
    stack: StackSettings, mongo: AsyncMongoClient[Document]
) -> None:
    cases = mongo[stack.database("outbox")]["backlog_cases"]
    events = [sample_event("case-backlog-1"), sample_event("case-backlog-2")]
    for event in events:
        await cases.update_one({"_id": event.subject}, {"$set": outbox_set([event])}, upsert=True)

    def gauge(name: str) -> float | None:
        return REGISTRY.get_sample_value(name, {"collection": "backlog_cases"})

    failures = (
        REGISTRY.get_sample_value(
            "sop_outbox_relay_failures_total", {"collection": "backlog_cases"}
        )
        or 0
    )
    stop = asyncio.Event()
    relay = OutboxRelay(collection=cases, publisher=BrokerDown(), poll_interval_s=0.05)
    running = asyncio.create_task(relay.run(stop))
    try:
        await eventually(
            lambda: (
                (
                    REGISTRY.get_sample_value(
                        "sop_outbox_relay_failures_total", {"collection": "backlog_cases"}
                    )
                    or 0
                )
                >= failures + 2
            )
        )
    finally:
        stop.set()
        await running
    assert gauge("sop_outbox_backlog_events") == 2
    age = gauge("sop_outbox_oldest_event_age_seconds")
    assert age is not None and age > 0

    assert await OutboxRelay(collection=cases, publisher=InMemoryEventPublisher()).relay_once() == 2
    assert gauge("sop_outbox_backlog_events") == 0
    assert gauge("sop_outbox_oldest_event_age_seconds") == 0
