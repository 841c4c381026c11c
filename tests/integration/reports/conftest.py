"""The reports service in-process against the real servers: its app over ASGI, its consumer,
outbox relay and PDF workers as tasks, on the test's own namespace and bucket."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from services.reports.__main__ import SERVICE, ReportsService, assemble
from services.reports.config import ReportsSettings
from services.reports.domain import ReportRecord
from services.reports.store import ReportsStore
from shared.auth import Role, TokenIssuer, TokenVerifier
from shared.bus import KafkaEventPublisher
from shared.envelope import CloudEvent, Payload, make_event
from shared.mongo import connect
from shared.objectstore import MinioObjectStore
from shared.settings import StackSettings
from tests.contract.test_objectstore_contract import remove_bucket
from tests.support import eventually
from tests.topic_reading import consumed_everything
from tests.unit.reports import factories

RECORDS_URL = "http://records.test"


@dataclass
class Running:
    service: ReportsService
    store: ReportsStore
    objects: MinioObjectStore
    client: httpx.AsyncClient
    issuer: TokenIssuer
    publisher: KafkaEventPublisher
    stack: StackSettings

    def auth(
        self, subject: str, role: Role = "expert", case_ids: Iterable[str] = ()
    ) -> dict[str, str]:
        token = self.issuer.issue(subject=subject, role=role, case_ids=case_ids)
        return {"authorization": f"Bearer {token}"}

    def family(self, case_id: str) -> dict[str, str]:
        return self.auth(f"guardian-of-{case_id}", "guardian", [case_id])

    @property
    def staff(self) -> dict[str, str]:
        return self.auth("staff-1", "intake-staff")

    async def publish(self, *events: CloudEvent) -> None:
        await self.publisher.publish(events)

    async def open_case(
        self, case_id: str, *, language: str = "en", **changes: Any
    ) -> list[CloudEvent]:
        """case.submitted (with `changes`), records.ready and expert.assigned; returns once the
        draft is open."""
        events = [
            event(factories.case_submitted(case_id, language, **changes)),
            event(factories.records_ready(case_id)),
            event(factories.expert_assigned(case_id)),
        ]
        await self.publish(*events)
        await eventually(lambda: self._has_draft(case_id))
        return events

    async def _has_draft(self, case_id: str) -> bool:
        record = await self.store.get(case_id)
        return bool(record and record.draft and record.facts and record.manifest)

    async def record(self, case_id: str) -> ReportRecord:
        found = await self.store.get(case_id)
        assert found is not None
        return found

    async def consumed(self, event_type: str) -> bool:
        """True once the service's consumer group committed every message on the topic."""
        return await consumed_everything(self.stack, self.stack.topic(SERVICE), event_type)

    async def write_all(self, case_id: str, **overrides: Any) -> httpx.Response:
        """Fill in every section as the lead, from the current revision."""
        record = await self.record(case_id)
        assert record.draft is not None
        body = {**factories.complete_sections(record, **overrides)}
        return await self.client.patch(
            f"/cases/{case_id}/report/draft",
            json=body,
            headers={**self.auth("ana"), "If-Match": f'"{record.draft.revision}"'},
        )


def event(payload: Payload) -> CloudEvent:
    case_id = getattr(payload, "case_id")  # noqa: B009 - every case payload has one
    return make_event(payload, source="/tests", subject=case_id)


@pytest.fixture
async def reports(
    topics: StackSettings,
    publisher: KafkaEventPublisher,
    issuer: TokenIssuer,
    verifier: TokenVerifier,
) -> AsyncIterator[Running]:
    settings = ReportsSettings(
        stack=topics, records_base_url=RECORDS_URL, pdf_executor="thread", pdf_workers=2
    )
    mongo = connect(topics, app_name="reports-tests")
    store = ReportsStore(mongo[topics.database(SERVICE)])
    objects = MinioObjectStore.from_settings(topics, SERVICE)
    service = await assemble(
        store=store, objects=objects, publisher=publisher, settings=settings, verifier=verifier
    )
    stop = asyncio.Event()
    tasks = [asyncio.create_task(task(stop)) for task in service.background]
    transport = httpx.ASGITransport(app=service.app)
    client = httpx.AsyncClient(transport=transport, base_url="http://reports.test")
    try:
        await eventually(lambda: service.runner.ready)
        yield Running(service, store, objects, client, issuer, publisher, topics)
    finally:
        stop.set()
        for task in tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 30)
        await client.aclose()
        await remove_bucket(objects)
        await mongo.drop_database(topics.database(SERVICE))
        await mongo.close()
