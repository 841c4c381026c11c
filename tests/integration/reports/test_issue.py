"""Signing: the stored HTML and PDF, report.issued on Kafka once per version, amendments."""

from __future__ import annotations

import asyncio
import base64
import hashlib

import pytest

from services.reports.domain import ReportRecord
from shared.envelope import CloudEvent
from tests.integration.reports.conftest import Running
from tests.support import eventually, sample_case
from tests.topic_reading import events_on

pytestmark = pytest.mark.real

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


async def stored_bytes(reports: Running, key: str) -> bytes:
    return b"".join([chunk async for chunk in reports.objects.stream(key)])


async def test_a_signed_report_is_stored_published_once_and_amended_as_version_two(
    reports: Running,
) -> None:
    # A hospital's case: its order and the child's MRN come back on the DiagnosticReport.
    patient = sample_case().patient.model_copy(
        update={"mrn": "MRN-77-1234", "mrn_system": "urn:oid:1.2.3.4.5"}
    )
    await reports.open_case(
        "case-i1",
        language="es",
        patient=patient,
        submitted_via="fhir",
        organization_id="org-valley",
        hospital_request_id="REQ-9",
        hospital_request_system="urn:oid:1.2.3.4",
    )
    written = await reports.write_all("case-i1", summary=f"Resumen. {HOSTILE}")
    assert written.status_code == 200, written.text
    co_author = await reports.client.post("/cases/case-i1/report/sign", headers=reports.auth("ben"))
    assert co_author.status_code == 403

    signed = await reports.client.post(
        "/cases/case-i1/report/sign",
        json={"revision": written.json()["revision"]},
        headers=reports.auth("ana"),
    )
    assert signed.status_code == 201, signed.text
    version = signed.json()
    assert version["version"] == 1 and version["language"] == "es"

    issued = await eventually(lambda: events_on(reports.stack, "report.issued", "case-i1"))
    assert len(issued) == 1
    data = issued[0].data
    assert (data["version"], data["amends_version"]) == (1, None)
    assert (data["concordance"], data["treatment_change"]) == ("refined", "modified")
    assert data["recipients"] == ["guardian", "referring-physician"]
    for kind in ("html", "pdf"):
        stored = data[kind]
        assert stored["bucket"] == reports.objects.bucket
        content = await stored_bytes(reports, stored["key"])
        assert hashlib.sha256(content).hexdigest() == stored["sha256"]
        assert len(content) == stored["size_bytes"]
    html = (await stored_bytes(reports, data["html"]["key"])).decode()
    assert "Informe de segunda opinión a distancia" in html
    assert "sin un examen presencial" in html
    assert "<script" not in html and "&lt;script&gt;" in html
    pdf = await stored_bytes(reports, data["pdf"]["key"])
    assert pdf.startswith(b"%PDF-")

    # The family reads exactly what was published.
    family = reports.family("case-i1")
    fetched = await reports.client.get(
        "/cases/case-i1/report/versions/1/report.pdf", headers=family
    )
    assert fetched.status_code == 200
    assert fetched.headers["content-type"] == "application/pdf"
    assert hashlib.sha256(fetched.content).hexdigest() == data["pdf"]["sha256"]
    fhir = await reports.client.get("/fhir/DiagnosticReport/rpt-case-i1", headers=family)
    assert fhir.status_code == 200 and fhir.json()["status"] == "final"
    resource = fhir.json()
    assert resource["conclusion"].startswith("Se precisa el diagnóstico")
    assert resource["basedOn"][0]["identifier"] == {"system": "urn:oid:1.2.3.4", "value": "REQ-9"}
    subject = resource["subject"]["identifier"]
    assert (subject["system"], subject["value"]) == ("urn:oid:1.2.3.4.5", "MRN-77-1234")
    form = fhir.json()["presentedForm"][0]
    assert hashlib.sha256(base64.b64decode(form["data"])).hexdigest() == data["pdf"]["sha256"]
    page = await reports.client.get("/cases/case-i1/report/versions/1/report.html", headers=family)
    assert (
        page.status_code == 200 and "default-src 'none'" in page.headers["content-security-policy"]
    )

    # An amendment: version 2 says what changed; version 1 stays as it was.
    resigned = await reports.client.post("/cases/case-i1/report/sign", headers=reports.auth("ana"))
    assert resigned.status_code == 409
    opened = await reports.client.post(
        "/cases/case-i1/report/amendments", headers=reports.auth("ana")
    )
    assert opened.status_code == 201, opened.text
    assert opened.json()["kind"] == "amendment"
    without_summary = await reports.client.post(
        "/cases/case-i1/report/sign", headers=reports.auth("ana")
    )
    assert without_summary.status_code == 422
    assert without_summary.json()["error"]["field"] == "change_summary"
    amended = await reports.client.patch(
        "/cases/case-i1/report/draft",
        json={"change_summary": "Se añadió el resultado de la citología del LCR."},
        headers={**reports.auth("ana"), "If-Match": opened.headers["etag"]},
    )
    assert amended.status_code == 200, amended.text
    second = await reports.client.post("/cases/case-i1/report/sign", headers=reports.auth("ana"))
    assert second.status_code == 201, second.text

    async def both_versions() -> list[CloudEvent]:
        found = await events_on(reports.stack, "report.issued", "case-i1")
        return found if len(found) >= 2 else []

    both = await eventually(both_versions, within=30)
    assert [e.data["version"] for e in both] == [1, 2]  # each exactly once
    assert both[1].data["amends_version"] == 1
    assert both[1].data["change_summary"] == "Se añadió el resultado de la citología del LCR."
    assert both[1].data["pdf"]["key"] != data["pdf"]["key"]
    view = (await reports.client.get("/cases/case-i1/report", headers=family)).json()
    assert [v["version"] for v in view["versions"]] == [1, 2]
    assert view["versions"][0]["pdf"] == data["pdf"]
    old = await reports.client.get("/cases/case-i1/report/versions/1/report.pdf", headers=family)
    assert hashlib.sha256(old.content).hexdigest() == data["pdf"]["sha256"]
    # The email's link: the newest version, the token in the query (a browser sends no header).
    token = next(iter(family.values())).removeprefix("Bearer ")
    latest = await reports.client.get(
        f"/cases/case-i1/report/latest/report.pdf?access_token={token}"
    )
    assert latest.status_code == 200, latest.text
    assert hashlib.sha256(latest.content).hexdigest() == both[1].data["pdf"]["sha256"]
    refused = await reports.client.post(f"/cases/case-i1/report/follow-ups?access_token={token}")
    assert refused.status_code == 401  # only a read may carry its token in the address
    fhir = await reports.client.get("/fhir/DiagnosticReport/rpt-case-i1", headers=family)
    assert (fhir.json()["status"], fhir.json()["meta"]["versionId"]) == ("amended", "2")
    record: ReportRecord = await reports.record("case-i1")
    assert record.status == "issued"


async def test_two_signatures_at_once_issue_one_version_and_leave_no_stray_files(
    reports: Running,
) -> None:
    await reports.open_case("case-i2")
    assert (await reports.write_all("case-i2")).status_code == 200
    racing = await asyncio.gather(
        *(
            reports.client.post("/cases/case-i2/report/sign", headers=reports.auth("ana"))
            for _ in range(2)
        )
    )
    assert sorted(r.status_code for r in racing) == [201, 409]
    record = await reports.record("case-i2")
    assert [v.version for v in record.versions] == [1]

    def keys() -> list[str]:
        found = reports.objects.client.list_objects(
            reports.objects.bucket, prefix="case-i2/", recursive=True
        )
        return sorted(o.object_name for o in found)

    issued = record.versions[0]
    assert await asyncio.to_thread(keys) == sorted([issued.html.key, issued.pdf.key])
