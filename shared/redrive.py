"""Re-drive a dead-letter topic after the fix: its messages go back to the topic they came from.

    python -m shared.redrive TOPIC            what would move, by reason (a dry run: the default)
    python -m shared.redrive TOPIC --apply    move them

What moves is what was dead when the run started (a message dead-lettered meanwhile waits for
the next run). Progress is a consumer group of the tool's own per DLQ (`redrive.<topic>`),
committed only after the broker acknowledged the re-published batch: a second run moves
nothing twice, and a run stopped midway goes on where it stopped. A crash between publishing
and committing re-publishes that batch once more; the consumers apply each event id once, so
that is a duplicate delivery, not a duplicate effect. A message still refused goes back to the
DLQ with its new reason. The `dlq.*` headers are dropped and `redriven.from` names the dead
letter (topic/partition/offset) the message was re-driven from.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata

from shared.bus import KafkaEventPublisher, OutgoingRecord
from shared.settings import StackSettings
from shared.topics import dlq_topic

DLQ_HEADER_PREFIX = "dlq."
BATCH = 200


@dataclass
class RedriveReport:
    dead_letter_topic: str
    applied: bool
    looked_at: int = 0
    moved: int = 0
    by_reason: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        verb = "moved" if self.applied else "would move (dry run; --apply moves them)"
        lines = [f"{self.dead_letter_topic}: {self.looked_at} dead letters, {verb}"]
        lines += [f"  {count:>7}  {reason}" for reason, count in self.by_reason.most_common()]
        return lines


def redriven(record: ConsumerRecord[bytes, bytes], original_topic: str) -> OutgoingRecord:
    """The dead letter as its producer sent it, marked with where it was re-driven from."""
    headers = [(k, v) for k, v in record.headers or [] if not k.startswith(DLQ_HEADER_PREFIX)]
    origin = f"{record.topic}/{record.partition}/{record.offset}".encode()
    return OutgoingRecord(
        topic=original_topic,
        key=record.key or b"",
        value=record.value or b"",
        headers=[*headers, ("redriven.from", origin)],
    )


def reason_of(record: ConsumerRecord[bytes, bytes]) -> str:
    for key, value in record.headers or []:
        if key == "dlq.reason":
            return str(value.decode(errors="replace"))
    return "(no reason)"


async def partitions_of(stack: StackSettings, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=stack.kafka_bootstrap_servers, **stack.kafka_client_options()
    )
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described.get("error_code"):
        raise SystemExit(f"no topic {topic}")
    return sorted(int(p["partition"]) for p in described["partitions"])


async def redrive(
    stack: StackSettings,
    topic: str,
    *,
    apply: bool,
    progress: Callable[[int, int], None] | None = None,
) -> RedriveReport:
    """Move (or, without `apply`, count) the dead letters of `topic` (a platform topic name,
    without the namespace) back to it."""
    original = stack.topic(topic)
    dead = dlq_topic(original)
    report = RedriveReport(dead, applied=apply)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.kafka_bootstrap_servers,
        group_id=stack.topic(f"redrive.{topic}"),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **stack.kafka_client_options(),
    )
    publisher = KafkaEventPublisher(stack) if apply else None
    await consumer.start()
    try:
        if publisher is not None:
            await publisher.start()
        partitions = [TopicPartition(dead, p) for p in await partitions_of(stack, dead)]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            committed = await consumer.committed(tp)
            if committed is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, committed)
        starts = {tp: await consumer.position(tp) for tp in partitions}
        total = sum(max(ends[tp] - starts[tp], 0) for tp in partitions)
        remaining = {tp for tp in partitions if starts[tp] < ends[tp]}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000, max_records=BATCH)
            for tp, records in batch.items():
                wanted = [r for r in records if r.offset < ends[tp]]
                report.looked_at += len(wanted)
                report.by_reason.update(reason_of(r) for r in wanted)
                if publisher is not None and wanted:
                    await publisher.send_records([redriven(r, original) for r in wanted])
                    # Only what the broker acknowledged counts as moved.
                    await consumer.commit({tp: OffsetAndMetadata(wanted[-1].offset + 1, "")})
                    report.moved += len(wanted)
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
            if progress is not None:
                progress(report.looked_at, total)
        return report
    finally:
        await consumer.stop()
        if publisher is not None:
            await publisher.stop()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.redrive", description=__doc__)
    parser.add_argument(
        "topic", help="the platform topic whose DLQ to re-drive, e.g. records.ready"
    )
    parser.add_argument("--apply", action="store_true", help="move them (default: a dry run)")
    args = parser.parse_args(argv[1:])

    def progress(done: int, total: int) -> None:
        print(f"\r{done}/{total} dead letters", end="", file=sys.stderr, flush=True)

    report = asyncio.run(redrive(StackSettings(), args.topic, apply=args.apply, progress=progress))
    print(file=sys.stderr)
    print("\n".join(report.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
