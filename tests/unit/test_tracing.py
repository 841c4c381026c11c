"""Trace context travels with events: the envelope, the outbox entry, the relay's PRODUCER span,
the Kafka headers and the consumer's CONSUMER span are one trace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import ConsumerRecord
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from shared import tracing
from shared.bus import InMemoryEventPublisher
from shared.consumer import ConsumerRunner, Delivery
from shared.envelope import CloudEvent, decode, encode
from shared.outbox import OutboxRelay, outbox_set
from shared.settings import StackSettings
from tests.support import sample_event

EXPORTER = InMemorySpanExporter()


@pytest.fixture(autouse=True)
def spans() -> Iterator[InMemorySpanExporter]:
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
        tracing.use_provider(provider)
    EXPORTER.clear()
    yield EXPORTER


def in_a_span() -> CloudEvent:
    with tracing.tracer().start_as_current_span("POST /cases", kind=SpanKind.SERVER):
        return sample_event("case-7")


def test_an_event_made_in_a_span_carries_its_traceparent_through_the_envelope() -> None:
    event = in_a_span()
    (server,) = EXPORTER.get_finished_spans()
    fields = tracing.event_trace_fields(decode(encode(event)))
    assert fields["traceparent"].split("-")[1] == f"{server.context.trace_id:032x}"
    assert fields["traceparent"].split("-")[2] == f"{server.context.span_id:016x}"


def test_an_event_without_trace_context_still_decodes() -> None:
    event = sample_event("case-8")  # outside any span
    assert "traceparent" not in encode(event).decode()
    assert tracing.event_trace_fields(decode(encode(event))) == {}


class FakeCollection:
    """Just what the relay calls: find(...).to_list(), bulk_write and the name its metrics use."""

    name = "cases"

    def __init__(self, documents: list[dict[str, Any]]) -> None:
        self.documents = documents

    def find(self, *args: object, **kwargs: object) -> FakeCollection:
        return self

    async def to_list(self) -> list[dict[str, Any]]:
        return self.documents

    async def bulk_write(self, *args: object, **kwargs: object) -> None:
        return None


def outbox_document(event: CloudEvent) -> dict[str, Any]:
    """A case document as stored: the outbox entry is the event as `outbox_set` writes it."""
    (entry,) = outbox_set([event]).values()
    return {"_id": event.subject, "outbox": {event.id: entry}}


async def test_the_relay_publishes_in_a_producer_span_continuing_the_stored_context() -> None:
    event = in_a_span()
    document = outbox_document(event)
    assert "traceparent" in document["outbox"][event.id]  # kept with the outbox entry
    publisher = InMemoryEventPublisher()
    relay = OutboxRelay(collection=FakeCollection([document]), publisher=publisher)  # type: ignore[arg-type]
    assert await relay.relay_once() == 1
    server, producer = EXPORTER.get_finished_spans()
    assert producer.kind is SpanKind.PRODUCER and producer.name == "publish case.submitted"
    assert producer.parent is not None and producer.parent.span_id == server.context.span_id
    assert producer.context.trace_id == server.context.trace_id
    # Both the envelope and the Kafka headers name the producer span as the parent-to-be.
    (record,) = publisher.records
    expected = f"00-{producer.context.trace_id:032x}-{producer.context.span_id:016x}-"
    assert dict(record.headers)["traceparent"].decode().startswith(expected)
    assert tracing.event_trace_fields(decode(record.value))["traceparent"].startswith(expected)
    assert producer.attributes is not None and producer.attributes["case.id"] == "case-7"


async def test_the_consumer_runs_the_handler_in_a_child_consumer_span() -> None:
    event = in_a_span()
    publisher = InMemoryEventPublisher()
    relay = OutboxRelay(
        collection=FakeCollection([outbox_document(event)]),  # type: ignore[arg-type]
        publisher=publisher,
    )
    await relay.relay_once()
    seen: list[tuple[int, int, CloudEvent]] = []

    async def handler(delivery: Delivery) -> None:
        ctx = trace.get_current_span().get_span_context()
        # What the handler writes continues this span's trace.
        seen.append((ctx.trace_id, ctx.span_id, sample_event("case-7")))

    runner = ConsumerRunner(
        stack=StackSettings(),
        group_id="reports",
        handlers={"case.submitted": handler},
        publisher=InMemoryEventPublisher(),
    )
    (record,) = publisher.records
    await runner._process(consumer_record(record.value, record.headers))
    server, producer, consumer = EXPORTER.get_finished_spans()
    assert consumer.kind is SpanKind.CONSUMER and consumer.name == "process case.submitted"
    assert consumer.parent is not None and consumer.parent.span_id == producer.context.span_id
    assert consumer.context.trace_id == server.context.trace_id
    trace_id, span_id, written = seen[0]
    assert (trace_id, span_id) == (consumer.context.trace_id, consumer.context.span_id)
    assert tracing.event_trace_fields(written)["traceparent"].split("-")[2] == f"{span_id:016x}"


async def test_an_event_without_headers_continues_from_its_envelope() -> None:
    event = in_a_span()
    (server,) = EXPORTER.get_finished_spans()

    async def handler(delivery: Delivery) -> None:
        return None

    runner = ConsumerRunner(
        stack=StackSettings(),
        group_id="records",
        handlers={"case.submitted": handler},
        publisher=InMemoryEventPublisher(),
    )
    await runner._process(consumer_record(encode(event), []))
    consumer = EXPORTER.get_finished_spans()[-1]
    assert consumer.parent is not None and consumer.parent.span_id == server.context.span_id


def test_the_span_file_holds_one_json_line_per_span_and_the_cli_prints_the_tree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    in_a_span()
    tracer = tracing.tracer()
    with (
        tracer.start_as_current_span("root", attributes={"case.id": "case-7"}),
        tracer.start_as_current_span("child"),
    ):
        pass
    path = tmp_path / "traces.jsonl"
    exporter = tracing.JsonLinesSpanExporter(path)
    exporter.export(EXPORTER.get_finished_spans())
    records = tracing.read_spans(path)
    assert [r["name"] for r in records] == ["POST /cases", "child", "root"]
    assert {"trace_id", "span_id", "parent", "service", "kind", "start", "end"} <= set(records[0])
    assert tracing._main(["show", "case-7", "--file", str(path)]) == 0
    out = capsys.readouterr().out
    assert " root " in out and "\n    unknown_service:python child" in out  # indented


def consumer_record(value: bytes, headers: list[tuple[str, bytes]]) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic="case.submitted",
        partition=0,
        offset=1,
        timestamp=0,
        timestamp_type=0,
        key=b"case-7",
        value=value,
        checksum=None,
        serialized_key_size=6,
        serialized_value_size=len(value),
        headers=headers,
    )


def test_a_case_opened_by_a_request_continues_the_cases_own_trace_linked_to_the_request() -> None:
    with (
        tracing.tracer().start_as_current_span("POST /cases", kind=SpanKind.SERVER),
        tracing.case_span("case-9", "open case"),
    ):
        event = sample_event("case-9")
    opened, server = EXPORTER.get_finished_spans()
    case_root = trace.get_current_span(tracing.case_context("case-9")).get_span_context()
    assert opened.context.trace_id == case_root.trace_id != server.context.trace_id
    assert opened.parent is not None
    assert f"{opened.parent.span_id:016x}" == tracing.case_root_span_id("case-9")
    assert [link.context.span_id for link in opened.links] == [server.context.span_id]
    traceparent = tracing.event_trace_fields(event)["traceparent"]
    assert traceparent.split("-")[1] == f"{case_root.trace_id:032x}"


async def test_an_event_without_any_context_continues_its_cases_trace() -> None:
    async def handler(delivery: Delivery) -> None:
        return None

    runner = ConsumerRunner(
        stack=StackSettings(),
        group_id="intake",
        handlers={"case.submitted": handler},
        publisher=InMemoryEventPublisher(),
    )
    await runner._process(consumer_record(encode(sample_event("case-7")), []))
    (consumer,) = EXPORTER.get_finished_spans()
    assert consumer.parent is not None
    assert f"{consumer.parent.span_id:016x}" == tracing.case_root_span_id("case-7")


async def test_a_request_naming_a_case_is_a_server_span_in_its_trace_without_path_or_query() -> (
    None
):
    app = FastAPI(telemetry=tracing.NO_NATIVE_TELEMETRY)

    @app.post("/cases/{case_id}/report/sign")
    async def sign(case_id: str) -> dict[str, str]:
        return {}

    app.add_middleware(tracing.TracingMiddleware)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        answer = await client.post("/cases/case-3/report/sign?access_token=link-secret")
    assert answer.status_code == 200
    (server,) = EXPORTER.get_finished_spans()
    assert server.kind is SpanKind.SERVER and server.name == "POST /cases/{case_id}/report/sign"
    assert server.parent is not None
    assert f"{server.parent.span_id:016x}" == tracing.case_root_span_id("case-3")
    attributes = dict(server.attributes or {})
    assert attributes["case.id"] == "case-3" and attributes["http.response.status_code"] == 200
    assert "link-secret" not in str(attributes) and "/cases/case-3" not in str(attributes)


async def test_an_event_written_outside_any_span_is_published_in_its_cases_trace() -> None:
    event = sample_event("case-5")  # a timer's change, say: no span around it
    publisher = InMemoryEventPublisher()
    relay = OutboxRelay(
        collection=FakeCollection([outbox_document(event)]),  # type: ignore[arg-type]
        publisher=publisher,
    )
    await relay.relay_once()
    (producer,) = EXPORTER.get_finished_spans()
    assert producer.parent is not None
    assert f"{producer.parent.span_id:016x}" == tracing.case_root_span_id("case-5")
