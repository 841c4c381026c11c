"""Rebuilding the timeline from the topics: every case topic read from the beginning up to
where it ended when the rebuild started, without a consumer group (so the live consumer's
committed offsets, and with them the emails and webhooks already sent, are untouched).

Also a command for operators (`make rebuild`, `python -m services.notify.rebuild`): the same
replay from outside the service, with progress, for a timeline database that was lost or
restored from an old backup. Applying an event twice changes nothing, so it is safe to run
while notify runs, and to run again after an interruption.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.notify.domain.timeline import CaseTimeline
from services.notify.handlers import CONSUMED_TYPES, record_timeline
from services.notify.store import NotifyStore
from shared.case_keys import CaseCipher, CaseKeyReader, CaseKeyring
from shared.contracts import decode_payload
from shared.envelope import InvalidEvent, decode
from shared.erasure import ERASED_CASES, ErasureReader
from shared.mongo import connect
from shared.settings import StackSettings

Progress = Callable[[int, int], None]

log = logging.getLogger(__name__)


async def rebuild_timeline(
    *,
    stack: StackSettings,
    store: NotifyStore,
    on_timeline: Callable[[CaseTimeline], None] | None = None,
    progress: Progress | None = None,
) -> int:
    """Replay every case topic into the timeline; returns how many events were applied.
    `progress(read, total)` hears after each batch how many of the messages there were when
    the replay started have been read."""
    # Erased cases first: none of their events may come back into the timeline.
    erasures = ErasureReader(stack)
    try:
        await erasures.catch_up()
    finally:
        await erasures.close()
    # Then the cases' keys, into a keyring of the replay's own (the process's may follow
    # another stack, or none): the events are sealed with them (destroyed: an erased case).
    keyring = CaseKeyring()
    keys = CaseKeyReader(stack, keyring)
    try:
        await keys.catch_up()
    except BaseException:
        await keys.close()
        raise
    keys.attach()  # a key published since is looked for again
    cipher = CaseCipher(stack, keyring)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.kafka_bootstrap_servers,
        **stack.kafka_client_options(),
        enable_auto_commit=False,
    )
    applied = 0
    try:
        await consumer.start()
        partitions: list[TopicPartition] = []
        for event_type in CONSUMED_TYPES:
            topic = stack.topic(event_type)
            numbers = consumer.partitions_for_topic(topic) or await _partitions(consumer, topic)
            partitions += [TopicPartition(topic, n) for n in sorted(numbers)]
        if not partitions:
            return 0
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        total = sum(ends[tp] - starts[tp] for tp in partitions)
        read = 0
        remaining = {tp for tp, end in ends.items() if end > starts[tp]}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=500, max_records=500)
            for tp, messages in batches.items():
                for message in messages:
                    if message.offset < ends[tp]:
                        read += 1
                        applied += await _apply(store, cipher, message.value, on_timeline)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
            if progress is not None:
                progress(read, total)
    finally:
        await consumer.stop()
        await keys.close()
    log.info("timeline rebuilt from the topics", extra={"count": applied})
    return applied


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # the consumer has no subscription yet
    return consumer.partitions_for_topic(topic) or set()


async def _apply(
    store: NotifyStore,
    cipher: CaseCipher,
    raw: bytes | None,
    on_timeline: Callable[[CaseTimeline], None] | None,
) -> int:
    try:
        sealed = decode(raw)
        event = None if sealed.subject in ERASED_CASES else await cipher.open(sealed)
        if event is not None:
            decode_payload(event)
    except InvalidEvent:
        return 0  # the live consumer sent it to the dead-letter topic
    if event is None:  # erased (its key destroyed, or `case.erased` read)
        await store.erase_case(sealed.subject)  # a copy restored from before the erasure
        return 0
    timeline = await record_timeline(store, event)
    if on_timeline is not None:
        on_timeline(timeline)
    return 1


async def rebuild_from_outside(stack: StackSettings, progress: Progress | None = None) -> int:
    """The replay as a command: notify's own database, from the environment like the service."""
    mongo = connect(stack, app_name="notify-rebuild")
    try:
        store = NotifyStore(mongo[stack.database("notify")])
        await store.ensure_indexes()
        return await rebuild_timeline(stack=stack, store=store, progress=progress)
    finally:
        await mongo.close()


def main() -> int:
    def progress(read: int, total: int) -> None:
        share = f" ({100 * read // total}%)" if total else ""
        print(f"\r{read}/{total} events read{share}", end="", file=sys.stderr, flush=True)

    applied = asyncio.run(rebuild_from_outside(StackSettings(), progress))
    print(file=sys.stderr)
    print(f"timeline rebuilt: {applied} events applied")
    return 0


if __name__ == "__main__":
    sys.exit(main())
