"""The records service running in-process against the real servers: its app behind an httpx
client, its consumer and outbox relay as tasks, on a namespace of its own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.records.config import RecordsSettings
from services.records.handlers import SERVICE
from services.records.wiring import RecordsService, assemble
from shared.auth import Role, TokenIssuer, TokenVerifier
from shared.bus import KafkaEventPublisher
from shared.contracts import ExpertAssigned
from shared.contracts.expert_assigned import ExpertRef
from shared.envelope import CloudEvent, make_event
from shared.objectstore import MinioObjectStore
from shared.runtime import Connections
from shared.settings import StackSettings
from tests.contract.test_objectstore_contract import remove_bucket
from tests.support import eventually, sample_event

STAFF = "intake-staff"


@dataclass
class RecordsHarness:
    service: RecordsService
    client: httpx.AsyncClient
    stack: StackSettings
    publisher: KafkaEventPublisher
    issuer: TokenIssuer

    def auth(
        self,
        role: Role = STAFF,
        *,
        case_ids: Iterable[str] = (),
        organization: str | None = None,
        ttl_s: int = 600,
    ) -> dict[str, str]:
        token = self.issuer.issue(
            subject=f"{role}-1",
            role=role,
            case_ids=case_ids,
            organization=organization,
            ttl_s=ttl_s,
        )
        return {"Authorization": f"Bearer {token}"}

    async def submit(self, case_id: str, **changes: Any) -> CloudEvent:
        """Publish case.submitted and wait until the checklist is open; the case is then
        assigned to `expert-1`, the subject of `auth("expert")`, so experts may read it."""
        event = sample_event(case_id, **changes)
        await self.publisher.publish([event])
        await eventually(lambda: self._checklist_open(case_id))
        await self.assign(case_id, "expert-1")
        return event

    async def assign(self, case_id: str, expert_id: str) -> None:
        """Publish expert.assigned and wait until records follows it."""
        now = datetime.now(UTC)
        lead = ExpertRef(expert_id=expert_id, display_name="Dr Test", specialty="oncology")
        assigned = ExpertAssigned(
            case_id=case_id,
            assignment_id=f"a-{case_id}",
            lead=lead,
            urgency="routine",
            assigned_at=now,
            due_at=now,
        )
        await self.publisher.publish([make_event(assigned, source="/tests", subject=case_id)])

        async def followed() -> bool:
            case = await self.service.ports.store.load(case_id)
            return case is not None and expert_id in case.experts

        await eventually(followed)

    async def _checklist_open(self, case_id: str) -> bool:
        response = await self.client.get(f"/cases/{case_id}/checklist", headers=self.auth())
        return response.status_code == 200

    async def checklist(self, case_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/cases/{case_id}/checklist", headers=self.auth())
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def upload(
        self,
        case_id: str,
        kind: str,
        data: bytes,
        *,
        filename: str = "upload.bin",
        content_type: str = "application/octet-stream",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        return await self.client.post(
            f"/cases/{case_id}/documents",
            data={"kind": kind},
            files={"file": (filename, data, content_type)},
            headers=headers or self.auth(),
        )


@pytest.fixture
def records_settings() -> dict[str, Any]:
    """More settings for the service under test (a test module may override this fixture)."""
    return {}


@pytest.fixture
async def records(
    topics: StackSettings,
    publisher: KafkaEventPublisher,
    issuer: TokenIssuer,
    verifier: TokenVerifier,
    tmp_path: Path,
    records_settings: dict[str, Any],
) -> AsyncIterator[RecordsHarness]:
    limits = {"max_upload_bytes": 8 * 1024 * 1024, "max_archive_bytes": 32 * 1024 * 1024}
    settings = RecordsSettings(stack=topics, spool_dir=tmp_path, **{**limits, **records_settings})
    connections = Connections(SERVICE, settings)
    await connections.start()
    service = await assemble(connections, settings, verifier)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(task(stop)) for task in service.background]
    transport = httpx.ASGITransport(app=service.app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://records.test") as client:
            yield RecordsHarness(service, client, topics, publisher, issuer)
    finally:
        stop.set()
        for task in tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 30)
        objects = service.ports.objects
        assert isinstance(objects, MinioObjectStore)
        await remove_bucket(objects)
        await connections.mongo.drop_database(topics.database(SERVICE))
        await connections.stop()


async def object_keys(harness: RecordsHarness, prefix: str) -> list[str]:
    objects = harness.service.ports.objects
    assert isinstance(objects, MinioObjectStore)

    def keys() -> list[str]:
        found = objects.client.list_objects(objects.bucket, prefix=prefix, recursive=True)
        return [o.object_name for o in found]

    return await asyncio.to_thread(keys)
