"""The case timeline read model: every event in order, redeliveries absorbed, bad events
dead-lettered, and the whole model rebuilt from the topics after the database is lost."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from services.notify.rebuild import rebuild_from_outside
from shared.settings import StackSettings
from shared.topics import dlq_topic
from tests.integration.notify import events
from tests.integration.notify.conftest import StartNotify
from tests.support import eventually

pytestmark = pytest.mark.real


async def test_a_case_walks_through_every_stage(start_notify: StartNotify) -> None:
    async with start_notify() as notify:
        walk = [
            events.submitted("walk-1"),
            events.records_updated("walk-1", missing=2),
            events.records_ready("walk-1"),
            events.offered("walk-1"),
            events.assigned("walk-1"),
            events.issued("walk-1"),
        ]
        stages = []
        for event in walk:
            await notify.publish(event)
            await eventually(lambda e=event: notify.has_seen("walk-1", e.id))
            timeline = await notify.timeline("walk-1")
            assert timeline is not None
            stages.append(timeline["stage"])
        assert stages == [
            "submitted",
            "gathering-records",
            "awaiting-expert",
            "awaiting-expert",
            "in-review",
            "report-issued",
        ]
        assert timeline["service_level"]["state"] == "met"
        assert [e["event_id"] for e in timeline["entries"]] == [e.id for e in walk]
        assert timeline["initials"] == "A.Q."
        for secret in ("Amelia", "Quinterofake", "2016-04-09", "rosa.parent", "Medulloblastoma"):
            assert secret not in str(timeline)

        # A redelivered event changes nothing.
        await notify.publish(walk[2], events.cancelled("walk-1"))
        await eventually(lambda: _status_is(notify, "walk-1", "cancelled"))
        again = await notify.timeline("walk-1")
        assert again is not None and again["event_count"] == len(walk) + 1


async def _status_is(notify: object, case_id: str, status: str) -> bool:
    timeline = await notify.timeline(case_id)  # type: ignore[attr-defined]
    return timeline is not None and timeline["status"] == status


async def test_a_malformed_event_goes_to_the_dead_letter_topic(start_notify: StartNotify) -> None:
    async with start_notify() as notify:
        stack = notify.stack
        bad = events.submitted("bad-1").model_copy(update={"data": {"case_id": "bad-1"}})
        await notify.publish(bad)
        consumer = AIOKafkaConsumer(
            dlq_topic(stack.topic("case.submitted")),
            bootstrap_servers=stack.kafka_bootstrap_servers,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:

            async def dead_letters() -> list[dict[str, bytes]]:
                batch = await consumer.getmany(timeout_ms=200)
                return [dict(m.headers) for ms in batch.values() for m in ms]

            found = await eventually(dead_letters)
            assert found[0]["dlq.reason"] == b"invalid_payload"
        finally:
            await consumer.stop()
        assert await notify.timeline("bad-1") is None


async def test_the_timeline_is_rebuilt_from_the_topics_after_the_database_is_lost(
    start_notify: StartNotify,
) -> None:
    cases = {
        "rb-1": [events.submitted("rb-1"), events.records_ready("rb-1"), events.assigned("rb-1")],
        "rb-2": [events.submitted("rb-2"), events.records_updated("rb-2")],
    }
    async with start_notify(drop_database=False) as notify:
        for walk in cases.values():
            await notify.publish(*walk)
        for case_id, walk in cases.items():
            await eventually(lambda c=case_id, w=walk: notify.has_seen(c, *(e.id for e in w)))
        await notify.settled("rb-1", 3)  # the emails went out before the loss
        await eventually(lambda: _mail_settled(notify))  # rb-2's too
        before = {case_id: await notify.timeline(case_id) for case_id in cases}
        mails_before = len(notify.sink.messages)
        store = notify.service.ports.store
        await store.db.client.drop_database(store.db.name)

    # A new process finds an empty database and replays every case topic from the start.
    async with start_notify() as rebuilt:
        # The topics replay concurrently, so a timeline exists before its last event is back.
        async def rebuilt_as_before() -> bool:
            return {c: await rebuilt.timeline(c) for c in cases} == before

        await eventually(rebuilt_as_before, within=30)
        # Only the timeline is rebuilt: nobody is mailed again about old events.
        await asyncio.sleep(0.5)  # give a wrong resend its chance to show
        assert len(rebuilt.sink.messages) == mails_before
        assert await rebuilt.deliveries() == []


async def test_an_operator_rebuilds_the_timeline_with_the_command(
    start_notify: StartNotify, topics: StackSettings
) -> None:
    """`make rebuild` (`python -m services.notify.rebuild`): the replay from outside the service,
    with progress, into notify's database; a second run changes nothing."""
    walk = [events.submitted("cli-1"), events.records_ready("cli-1"), events.assigned("cli-1")]
    async with start_notify(drop_database=False) as notify:
        await notify.publish(*walk)
        await eventually(lambda: notify.has_seen("cli-1", *(e.id for e in walk)))
        before = await notify.timeline("cli-1")
        store = notify.service.ports.store
        await store.db.client.drop_database(store.db.name)

    progress: list[tuple[int, int]] = []
    applied = await rebuild_from_outside(topics, lambda read, total: progress.append((read, total)))
    assert applied >= len(walk)
    read, total = progress[-1]
    assert read == total >= len(walk)
    assert [p[0] for p in progress] == sorted(p[0] for p in progress)
    assert await rebuild_from_outside(topics) == applied  # idempotent: same events, same model

    async with start_notify() as after:  # the database is not empty: no rebuild of its own
        assert await after.timeline("cli-1") == before


async def _mail_settled(notify: Any) -> bool:
    """No delivery is being sent or due to someone with an address, and the mail count held
    still for half a second (a timeline shows an event just before its deliveries are
    planned). The expert's mail waits for an address this test never gives."""
    count = len(notify.sink.messages)
    await asyncio.sleep(0.5)
    found = await notify.deliveries()
    busy = [
        d for d in found if d["status"] == "sending" or (d["status"] == "pending" and d["address"])
    ]
    return not busy and len(notify.sink.messages) == count
