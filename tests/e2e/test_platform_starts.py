"""The five services start against the real stack, report ready, and each consumes its topics."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pymongo import AsyncMongoClient

from deploy.local.run import ServiceProcess, start_services, stop_services, wait_ready
from shared.bus import KafkaEventPublisher
from shared.mongo import Document, connect
from shared.settings import StackSettings
from tests.support import eventually, sample_event

pytestmark = pytest.mark.real

PORTS = {"intake": 18101, "records": 18102, "assignment": 18103, "reports": 18104, "notify": 18105}


@pytest.fixture
def services(
    topics: StackSettings, tmp_path: Path, auth_env: dict[str, str]
) -> Iterator[list[ServiceProcess]]:
    env = {"SOP_NAMESPACE": topics.sop_namespace, "SOP_ENVIRONMENT": "test", **auth_env}
    if os.environ.get("SOP_E2E_PORT_BASE"):
        base = int(os.environ["SOP_E2E_PORT_BASE"])
        ports = {name: base + i for i, name in enumerate(PORTS)}
    else:
        ports = PORTS
    started = start_services(env, tmp_path / "logs", ports)
    try:
        wait_ready(started)
        yield started
    finally:
        stop_services(started)
        for service in started:
            assert service.process.returncode == 0, service.log_path.read_text()[-2000:]


async def test_every_service_is_ready_and_consumes_the_case_topics(
    topics: StackSettings, publisher: KafkaEventPublisher, services: list[ServiceProcess]
) -> None:
    async with httpx.AsyncClient() as http:
        for service in services:
            ready = await http.get(f"{service.url}/readyz")
            assert ready.status_code == 200, (service.name, ready.text)
            metrics = await http.get(f"{service.url}/metrics")
            assert "sop_events_consumed_total" in metrics.text

    event = sample_event("case-e2e")
    await publisher.publish([event])
    applied = 'sop_events_consumed_total{event_type="case.submitted",outcome="applied"} 1.0'
    mongo: AsyncMongoClient[Document] = connect(topics, app_name="tests")
    try:
        async with httpx.AsyncClient() as http:
            for service in services:

                async def consumed(url: str = service.url) -> bool:
                    return applied in (await http.get(f"{url}/metrics")).text

                assert await eventually(consumed), service.name
    finally:
        for service in services:
            await mongo.drop_database(topics.database(service.name))
        await mongo.close()
