"""The five services start against the real stack, report ready, and each consumes its topics."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pymongo import AsyncMongoClient

from deploy.local.run import ServiceProcess, start_services, stop_services, wait_ready
from shared.auth import Role, TokenIssuer
from shared.bus import KafkaEventPublisher
from shared.mongo import Document, connect
from shared.settings import StackSettings
from tests.monitoring import PROMETHEUS_OWN, exported_series_names, metric_names_used
from tests.platform import free_port
from tests.support import eventually, sample_case, sample_event

pytestmark = pytest.mark.real

PORTS = {
    "intake": 18101,
    "records": 18102,
    "assignment": 18103,
    "reports": 18104,
    "notify": 18105,
    "audit": 18106,
}
CASE_SERVICES = ("intake", "records", "assignment", "reports", "notify")
PACS, ORGANIZATION = "E2EPACS", "org-e2e"


@pytest.fixture
def dimse_port() -> int:
    return free_port()


@pytest.fixture
def services(
    topics: StackSettings, tmp_path: Path, auth_env: dict[str, str], dimse_port: int
) -> Iterator[list[ServiceProcess]]:
    env = {"SOP_NAMESPACE": topics.sop_namespace, "SOP_ENVIRONMENT": "test", **auth_env}
    # Records with its DICOM C-STORE SCP on, as `make run` starts it.
    env["RECORDS_DIMSE_PORT"] = str(dimse_port)
    env["RECORDS_DIMSE_CALLING_AES"] = json.dumps({PACS: ORGANIZATION})
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


async def test_every_service_is_ready_consumes_the_case_topics_and_audits_access(
    topics: StackSettings,
    publisher: KafkaEventPublisher,
    services: list[ServiceProcess],
    issuer: TokenIssuer,
    tmp_path: Path,
    dimse_port: int,
) -> None:
    async with httpx.AsyncClient() as http:
        for service in services:
            ready = await http.get(f"{service.url}/readyz")
            assert ready.status_code == 200, (service.name, ready.text)
            metrics = await http.get(f"{service.url}/metrics")
            assert "sop_events_consumed_total" in metrics.text

    event = sample_event("case-e2e", organization_id=ORGANIZATION)
    await publisher.publish([event])
    applied = 'sop_events_consumed_total{event_type="case.submitted",outcome="applied"} 1.0'
    mongo: AsyncMongoClient[Document] = connect(topics, app_name="tests")
    try:
        async with httpx.AsyncClient() as http:
            for service in (s for s in services if s.name in CASE_SERVICES):

                async def consumed(url: str = service.url) -> bool:
                    return applied in (await http.get(f"{url}/metrics")).text

                assert await eventually(consumed), service.name
            await _access_is_audited(http, {s.name: s.url for s in services}, issuer)
            await _a_pacs_push_is_stored_and_audited(http, services, issuer, dimse_port, tmp_path)
            await _metrics_serve_the_alerts_and_dashboard(http, services)
        _no_personal_details_in_logs(services)
    finally:
        for service in services:
            await mongo.drop_database(topics.database(service.name))
        await mongo.close()


async def _access_is_audited(
    http: httpx.AsyncClient, urls: dict[str, str], issuer: TokenIssuer
) -> None:
    """A family's read of its own checklist and a stranger's refused read are both on the trail."""

    def bearer(role: Role, subject: str, cases: tuple[str, ...] = ()) -> dict[str, str]:
        token = issuer.issue(subject=subject, role=role, case_ids=cases)
        return {"authorization": f"Bearer {token}"}

    checklist = f"{urls['records']}/cases/case-e2e/checklist"
    own = await http.get(checklist, headers=bearer("guardian", "family-1", ("case-e2e",)))
    assert own.status_code == 200, own.text
    other = await http.get(checklist, headers=bearer("guardian", "family-2", ("case-other",)))
    assert other.status_code == 404
    officer = bearer("compliance-officer", "officer-1")

    async def trail() -> list[dict[str, object]] | None:
        found = await http.get(f"{urls['audit']}/audit/cases/case-e2e", headers=officer)
        assert found.status_code == 200, found.text
        records = found.json()["records"]
        return records if len(records) >= 2 else None

    records = await eventually(trail)
    assert {(r["agent"]["subject"], r["outcome"]) for r in records} >= {
        ("family-1", "allowed"),
        ("family-2", "denied"),
    }
    assert "/cases/{case_id}/checklist" in {r["route"] for r in records}
    nurse = await http.get(
        f"{urls['audit']}/audit/cases/case-e2e", headers=bearer("intake-staff", "staff-1")
    )
    assert nurse.status_code == 403
    fhir = await http.get(f"{urls['audit']}/audit/cases/case-e2e?format=fhir", headers=officer)
    assert fhir.json()["entry"][0]["resource"]["resourceType"] == "AuditEvent"


async def _a_pacs_push_is_stored_and_audited(
    http: httpx.AsyncClient,
    services: list[ServiceProcess],
    issuer: TokenIssuer,
    port: int,
    tmp_path: Path,
) -> None:
    """A PACS's C-STORE reaches the child's case, and the audit service holds the access."""
    instance = dcmread(get_testdata_file("CT_small.dcm"))
    instance.PatientID = "MRN771234"  # the case's MRN, as the hospital's PACS writes it
    path = tmp_path / "pushed.dcm"
    instance.save_as(path)
    push = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pynetdicom", "storescu", "127.0.0.1", str(port), str(path),
        "-aet", PACS, "-aec", "SOP-RECORDS", "-v",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    log = (await push.communicate())[0].decode()
    assert "Received Store Response (Status: 0x0000 - Success)" in log, log
    token = issuer.issue(subject="officer-1", role="compliance-officer")

    async def pushed() -> list[dict[str, Any]]:
        found = await http.get(
            f"{_url(services, 'audit')}/audit/cases/case-e2e",
            headers={"authorization": f"Bearer {token}"},
        )
        return [r for r in found.json()["records"] if r["method"] == "C-STORE"]

    (record,) = await eventually(pushed)
    assert (record["agent"]["subject"], record["agent"]["role"], record["outcome"]) == (
        PACS, "hospital-system", "allowed"
    )  # fmt: skip


async def _metrics_serve_the_alerts_and_dashboard(
    http: httpx.AsyncClient, services: list[ServiceProcess]
) -> None:
    """After a case went through: every metric deploy/monitoring's alert rules and dashboard
    read is exported by some service, each consumer reports its lag by group, topic and
    partition, the pushed instance is counted, and no case id is in any label."""

    async def scrape(service: ServiceProcess) -> str:
        return (await http.get(f"{service.url}/metrics")).text

    async def lag_reported(service: ServiceProcess) -> str | None:
        text = await scrape(service)
        lag = "sop_consumer_lag_messages{"
        return text if any(line.startswith(lag) for line in text.splitlines()) else None

    scraped = {}
    for service in services:
        scraped[service.name] = await eventually(lambda s=service: lag_reported(s))
    assert 'sop_records_ingested_instances_total{channel="cstore"} 1.0' in scraped["records"]
    exported = set().union(*(exported_series_names(text) for text in scraped.values()))
    missing = {n: w for n, w in metric_names_used().items() if n not in exported | PROMETHEUS_OWN}
    assert not missing, f"read by the rules or dashboard, exported by no service: {missing}"
    for name, text in scraped.items():
        assert "case-e2e" not in text and "MRN771234" not in text, name


def _url(services: list[ServiceProcess], name: str) -> str:
    return next(s.url for s in services if s.name == name)


def _no_personal_details_in_logs(services: list[ServiceProcess]) -> None:
    case = sample_case("case-e2e")
    secrets = [
        case.patient.given_name,
        case.patient.family_name,
        case.patient.date_of_birth.isoformat(),
        case.guardian.email,
        case.guardian.phone,
        case.referring_physician.email,
    ]
    for service in services:
        text = service.log_path.read_text()
        assert text, service.name
        leaked = [s for s in secrets if s in text]
        assert not leaked, (service.name, len(leaked))
