"""Intake and records together on the real servers: the link a family gets from the form is the
one records takes for uploads, and what records reports comes back to the status page."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.records.config import RecordsSettings
from services.records.wiring import assemble
from shared.auth import TokenVerifier
from shared.objectstore import MinioObjectStore
from shared.runtime import Connections
from shared.settings import StackSettings
from tests.contract.test_objectstore_contract import remove_bucket
from tests.integration.intake.conftest import IntakeHarness
from tests.support import eventually, sample_pdf
from tests.unit.intake.samples import form

pytestmark = pytest.mark.real


async def test_the_family_link_uploads_at_records_and_the_status_page_follows(
    intake: IntakeHarness, topics: StackSettings, verifier: TokenVerifier, tmp_path: Path
) -> None:
    settings = RecordsSettings(stack=topics, spool_dir=tmp_path)
    connections = Connections("records", settings)
    await connections.start()
    records = await assemble(connections, settings, verifier)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(task(stop)) for task in records.background]
    transport = httpx.ASGITransport(app=records.app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://records.test") as rec:
            accepted = await intake.submit(form())  # neuro-oncology
            case_id = accepted["case_id"]
            link = {"Authorization": f"Bearer {accepted['link']['token']}"}
            path = f"/cases/{case_id}"

            async def checklist_open() -> bool:
                return (await rec.get(f"{path}/checklist", headers=link)).status_code == 200

            await eventually(checklist_open)
            upload = await rec.post(
                f"{path}/documents",
                data={"kind": "pathology-report"},
                files={"file": ("report.pdf", sample_pdf("pathology"), "application/pdf")},
                headers=link,
            )
            assert upload.status_code == 201, upload.text

            async def status() -> dict[str, Any] | None:
                page: dict[str, Any] = (
                    await intake.client.get(f"{path}/status", headers=link)
                ).json()
                return page if "pathology-report" in page["present"] else None

            page = await eventually(status)
            assert page["stage"] == "gathering-records"
            assert sorted(page["missing"]) == [
                "current-medications",
                "mri-imaging",
                "treatment-records",
            ]
            other_case = (await intake.submit(form()))["case_id"]
            refused = await rec.get(f"/cases/{other_case}/checklist", headers=link)
            assert refused.status_code == 404
    finally:
        stop.set()
        for task in tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 30)
        objects = records.ports.objects
        assert isinstance(objects, MinioObjectStore)
        await remove_bucket(objects)
        await connections.mongo.drop_database(topics.database("records"))
        await connections.stop()
