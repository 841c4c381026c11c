"""What the load generator learns from the topics instead of polling the services' APIs.

A real hospital integration or an expert's inbox is told, not asked: the checklist of a case
opened (`records.updated`) and an expert was offered the case (`assignment.updated`). Polling
GET /offers for hundreds of cases in flight would load the very services being measured.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.case_keys import CaseCipher, CaseKeyReader, CaseKeyring
from shared.envelope import InvalidEvent, decode
from shared.settings import StackSettings
from shared.topics import platform_topics

TOPICS = ("records.updated", "assignment.updated")


@dataclass(frozen=True)
class Offered:
    offer_id: str
    expert_id: str


class CaseEvents:
    """Follows the topics from their beginning (a fresh namespace per benchmark) in the
    background; `checklist_open` and `offered` wait for one case's event."""

    def __init__(self, stack: StackSettings) -> None:
        self._stack = stack
        self._opened: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._offers: defaultdict[str, asyncio.Future[Offered]] = defaultdict(
            lambda: asyncio.get_running_loop().create_future()
        )
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        # The events are sealed with their case's key: read from `case.keys` as a service does
        # (a key not known yet is looked for again when its first event arrives).
        keyring = CaseKeyring()
        self._keys = CaseKeyReader(stack, keyring)
        self._keys.attach()
        self._cipher = CaseCipher(stack, keyring)

    async def __aenter__(self) -> CaseEvents:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._stack.kafka_bootstrap_servers, enable_auto_commit=False
        )
        await consumer.start()
        names = {self._stack.topic(topic) for topic in TOPICS}
        partitions = [
            TopicPartition(spec.name, p)
            for spec in platform_topics(self._stack)
            if spec.name in names
            for p in range(spec.partitions)
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        self._consumer = consumer
        self._task = asyncio.create_task(self._follow(consumer))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer:
            await self._consumer.stop()
        await self._keys.close()

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        updated, assignment = (self._stack.topic(t) for t in TOPICS)
        while True:
            batches = await consumer.getmany(timeout_ms=100, max_records=2000)
            for records in batches.values():
                for record in records:
                    try:
                        event = await self._cipher.open(decode(record.value))
                    except InvalidEvent:
                        continue
                    if event is None:
                        continue
                    data = event.data
                    if record.topic == updated:
                        self._opened[event.subject].set()
                    elif record.topic == assignment and data.get("change") == "offered":
                        offer = self._offers[event.subject]
                        if not offer.done() and data.get("offer_id"):
                            expert = data["expert"]["expert_id"]
                            offer.set_result(Offered(data["offer_id"], expert))

    async def checklist_open(self, case_id: str, within: float) -> None:
        async with asyncio.timeout(within):
            await self._opened[case_id].wait()

    async def offered(self, case_id: str, within: float) -> Offered:
        async with asyncio.timeout(within):
            return await asyncio.shield(self._offers[case_id])
