"""The metrics the alerts read: consumer lag from a runner's view, outbox ages from event ids,
HTTP routes by template, the PDF queue. No case id ever becomes a label."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from aiokafka import TopicPartition
from prometheus_client import REGISTRY

from services.reports import pdf
from shared.envelope import new_event_id
from shared.metrics_lag import LagObserver
from shared.outbox import _queued_at
from shared.webapp import create_service_app


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


class FakeConsumer:
    def __init__(self, highwater: dict[TopicPartition, int], position: dict[TopicPartition, int]):
        self.highwater_of, self.position_of = highwater, position

    def assignment(self) -> set[TopicPartition]:
        return set(self.position_of)

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.highwater_of.get(tp)

    async def position(self, tp: TopicPartition) -> int:
        return self.position_of[tp]


async def test_lag_is_highwater_minus_position_and_a_lost_partition_is_removed() -> None:
    p0, p1 = TopicPartition("t.lag", 0), TopicPartition("t.lag", 1)
    consumer = FakeConsumer({p0: 120, p1: 7}, {p0: 100, p1: 7})
    observer = LagObserver("g.lag")
    batch: dict[TopicPartition, list[Any]] = {p0: [object()]}
    await observer.observe(consumer, batch)  # type: ignore[arg-type]
    assert sample("sop_consumer_lag_messages", group="g.lag", topic="t.lag", partition="0") == 20
    assert sample("sop_consumer_lag_messages", group="g.lag", topic="t.lag", partition="1") == 0
    processed = sample(
        "sop_consumer_last_processed_timestamp_seconds", group="g.lag", topic="t.lag"
    )
    assert processed is not None and abs(processed - time.time()) < 5

    observer._last_refresh = 0  # the next fetch, a second later: partition 1 went elsewhere
    del consumer.position_of[p1]
    await observer.observe(consumer, {})  # type: ignore[arg-type]
    assert sample("sop_consumer_lag_messages", group="g.lag", topic="t.lag", partition="1") is None
    observer.forget()
    assert sample("sop_consumer_lag_messages", group="g.lag", topic="t.lag", partition="0") is None


async def test_a_partition_without_a_known_highwater_reports_no_lag() -> None:
    p0 = TopicPartition("t.fresh", 0)
    await LagObserver("g.fresh").observe(FakeConsumer({}, {p0: 0}), {})  # type: ignore[arg-type]
    assert (
        sample("sop_consumer_lag_messages", group="g.fresh", topic="t.fresh", partition="0") is None
    )


def test_an_outbox_event_is_dated_by_its_uuid7_id() -> None:
    assert abs(_queued_at(new_event_id()) - time.time()) < 5


async def test_http_requests_are_counted_by_route_template_never_by_path() -> None:
    app = create_service_app(title="t", description="d", readiness={})

    @app.get("/metric-test/{case_id}")
    async def read(case_id: str) -> dict[str, str]:
        return {"case": case_id}

    @app.get("/metric-test-fails")
    async def fails() -> None:
        raise RuntimeError("boom")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t.test") as client:
        assert (await client.get("/metric-test/case-123")).status_code == 200
        assert (await client.get("/metric-test-fails")).status_code == 500
        scraped = (await client.get("/metrics")).text
        scraped = (await client.get("/metrics")).text  # the first scrape is not counted either
    route = "/metric-test/{case_id}"
    assert sample("sop_http_requests_total", method="GET", route=route, code="200") == 1
    assert sample("sop_http_requests_total", method="GET", route="/metric-test-fails", code="500")
    assert sample("sop_http_request_duration_seconds_count", method="GET", route=route) == 1
    assert "case-123" not in scraped
    assert 'route="/metrics"' not in scraped


async def test_the_pdf_queue_counts_renders_until_they_finish(monkeypatch: Any) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()

    def slow_render(html: str) -> bytes:
        loop.call_soon_threadsafe(started.set)
        asyncio.run_coroutine_threadsafe(release.wait(), loop).result(timeout=10)
        return b"%PDF"

    monkeypatch.setattr(pdf, "render_pdf", slow_render)
    renderer = pdf.PdfRenderer(kind="thread", workers=1)
    before = sample("sop_reports_pdf_render_duration_seconds_count") or 0
    try:
        rendering = asyncio.create_task(renderer.pdf("<p>x</p>"))
        await started.wait()
        assert sample("sop_reports_pdf_render_queue_depth") == 1
        release.set()
        assert await rendering == b"%PDF"
    finally:
        renderer.close()
    assert sample("sop_reports_pdf_render_queue_depth") == 0
    assert sample("sop_reports_pdf_render_duration_seconds_count") == before + 1
