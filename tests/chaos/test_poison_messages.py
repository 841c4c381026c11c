"""Malformed messages on every topic, mixed into valid traffic: each lands in its topic's DLQ
with a reason, and every valid case is still processed."""

from __future__ import annotations

import random

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from shared.contracts import CASE_TOPICS
from shared.envelope import encode
from shared.topics import INBOUND_TOPICS, dlq_topic
from tests.chaos.conftest import Platform, scaled
from tests.support import eventually, sample_event
from tests.topic_reading import read_topic

pytestmark = [pytest.mark.real, pytest.mark.timeout(900)]

TOPICS = (*CASE_TOPICS, *INBOUND_TOPICS)


def poison(kind: str, event_type: str, n: int) -> tuple[bytes, bytes | None]:
    """(key, value) of one malformed message of `kind`."""
    case_id = f"poison-{n}"
    valid = orjson.loads(encode(sample_event(case_id)))
    valid["type"] = event_type
    if kind == "invalid-json":
        return case_id.encode(), b'{"specversion": "1.0", "id": ' + str(n).encode()
    if kind == "empty":
        return case_id.encode(), None
    if kind == "wrong-schema":
        valid["data"] = {"case_id": case_id, "surprise": True}
    elif kind == "unknown-type":
        valid["type"] = "case.exploded"
    elif kind == "oversized":
        valid["data"]["working_diagnosis"] = "x" * 300_000
    elif kind == "wrong-key":
        return b"someone-else", orjson.dumps(valid)
    elif kind == "not-an-object":
        return case_id.encode(), b"[1, 2, 3]"
    return case_id.encode(), orjson.dumps(valid)


KINDS = ("invalid-json", "empty", "wrong-schema", "unknown-type", "oversized", "wrong-key")


async def test_every_malformed_message_is_dead_lettered_and_valid_cases_go_through(
    platform: Platform,
) -> None:
    stack = platform.stack
    per_kind = scaled(3)
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap_servers, max_request_size=2_000_000
    )
    await producer.start()
    injected: dict[str, set[tuple[int, int]]] = {t: set() for t in TOPICS}
    valid_cases = [f"valid-{n}" for n in range(scaled(8))]
    try:
        plan = [(t, k, n) for t in TOPICS for k in KINDS for n in range(per_kind)]
        plan += [("case.submitted", "valid", n) for n in range(len(valid_cases))]
        random.Random(7).shuffle(plan)
        for topic, kind, n in plan:
            if kind == "valid":
                event = sample_event(valid_cases[n])
                await producer.send_and_wait(
                    stack.topic(topic), encode(event), key=event.subject.encode()
                )
                continue
            key, value = poison(kind, INBOUND_TOPICS.get(topic, topic), n)
            sent = await producer.send_and_wait(stack.topic(topic), value, key=key)
            injected[topic].add((sent.partition, sent.offset))
    finally:
        await producer.stop()

    async with httpx.AsyncClient() as http:
        staff = platform.auth("intake-staff", "staff-1")
        for case_id in valid_cases:
            url = f"{platform.url('records')}/cases/{case_id}/checklist"

            async def opened(url: str = url) -> bool:
                return (await http.get(url, headers=staff)).status_code == 200

            assert await eventually(opened, within=60), case_id

    async def dead_lettered(topic: str) -> dict[tuple[int, int], list[str]] | None:
        records = await read_topic(stack, dlq_topic(stack.topic(topic)))
        found: dict[tuple[int, int], list[str]] = {}
        for record in records:
            headers = dict(record.headers)
            where = (
                int(headers["dlq.original.partition"]),
                int(headers["dlq.original.offset"]),
            )
            found.setdefault(where, []).append(headers["dlq.reason"].decode())
        return found if injected[topic] <= set(found) else None

    for topic in TOPICS:
        try:
            found = await eventually(lambda t=topic: dead_lettered(t), within=90)
        except AssertionError:
            seen = await read_topic(stack, dlq_topic(stack.topic(topic)))
            raise AssertionError(
                f"{topic}: {len(injected[topic])} injected, {len(seen)} dead letters"
            ) from None
        assert set(found) == injected[topic], topic  # nothing valid was dead-lettered
        assert all(reasons and all(reasons) for reasons in found.values()), topic
