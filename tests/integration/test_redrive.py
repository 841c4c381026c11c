"""Re-driving a dead-letter topic after a fix, against the real broker: a dry run moves
nothing; the real run hands each dead letter back once, to a consumer that now takes it;
running it again moves nothing twice."""

from __future__ import annotations

import asyncio

import pytest

from shared.bus import KafkaEventPublisher
from shared.consumer import Delivery, PermanentError
from shared.redrive import redrive
from shared.settings import StackSettings
from shared.topics import dlq_topic
from tests.integration.test_consumer_runner import read_all, running
from tests.support import eventually, sample_event

pytestmark = pytest.mark.real


async def test_dead_letters_go_back_once_after_the_fix(
    topics: StackSettings, publisher: KafkaEventPublisher
) -> None:
    events = [sample_event(f"redrive-{n}") for n in range(5)]

    async def before_the_fix(delivery: Delivery) -> None:
        raise PermanentError("the bug: every submission refused")

    async with running(topics, publisher, before_the_fix, group="before"):
        await publisher.publish(events)
        dead = dlq_topic(topics.topic("case.submitted"))
        await eventually(lambda: _count(topics, dead, 5), within=30)

    dry = await redrive(topics, "case.submitted", apply=False)
    assert (dry.looked_at, dry.moved, dict(dry.by_reason)) == (5, 0, {"rejected": 5})
    again = await redrive(topics, "case.submitted", apply=False)
    assert again.looked_at == 5  # a dry run commits nothing

    taken: list[str] = []

    async def after_the_fix(delivery: Delivery) -> None:
        taken.append(delivery.event.id)

    # The fixed consumer is a new deployment of the same group: it reads on from where the
    # broken one stopped, so only what is re-driven reaches it.
    async with running(topics, publisher, after_the_fix, group="before"):
        progress: list[tuple[int, int]] = []
        moved = await redrive(
            topics, "case.submitted", apply=True, progress=lambda d, t: progress.append((d, t))
        )
        assert (moved.looked_at, moved.moved) == (5, 5)
        assert progress[-1] == (5, 5)
        await eventually(lambda: len(taken) >= 5, within=30)
        rerun = await redrive(topics, "case.submitted", apply=True)
        assert (rerun.looked_at, rerun.moved) == (0, 0)
        await asyncio.sleep(1)  # room for a duplicate to show up, were there one
    assert sorted(taken) == sorted(e.id for e in events)
    # Nothing went back to the DLQ, and the re-driven messages say where they came from.
    assert len(await read_all(topics, dead)) == 5
    redriven = [h for _, h in await read_all(topics, topics.topic("case.submitted"))]
    marked = [h["redriven.from"].decode() for h in redriven if "redriven.from" in h]
    assert len(marked) == 5 and all(m.startswith(f"{dead}/") for m in marked)
    assert not [h for h in redriven if "dlq.reason" in h]


async def _count(stack: StackSettings, topic: str, at_least: int) -> bool:
    return len(await read_all(stack, topic)) >= at_least
