"""A PACS pushes a study over DICOM (C-ECHO, C-STORE) on the real servers, with pynetdicom's own
storescu and echoscu as the PACS: the calling AE title names the hospital, the PatientID the
case, and what is stored is served by QIDO-RS and WADO-RS and counted on the checklist."""

from __future__ import annotations

import asyncio
import io
import re
import socket
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread

from shared.contracts import RecordsReady
from shared.envelope import CloudEvent
from tests.integration.records.conftest import RecordsHarness, object_keys
from tests.integration.records.samples import Instance, build_study, split_multipart
from tests.support import eventually, sample_case, sample_pdf
from tests.topic_reading import events_on

pytestmark = pytest.mark.real
CALLING = "VALLEYPACS"
CALLED = "SOP-RECORDS"
ORGANIZATION = "org-valley"
DICOM_JSON = "application/dicom+json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dimse_settings() -> dict[str, Any]:
    """Records with its C-STORE SCP on a free port, taking pushes from CALLING's hospital."""
    return {
        "dimse_port": free_port(),
        "dimse_ae_title": CALLED,
        "dimse_calling_aes": {CALLING: ORGANIZATION},
    }


@pytest.fixture
def records_settings() -> dict[str, Any]:
    return dimse_settings()


async def scu(
    records: RecordsHarness, app: str, *args: str, calling: str = CALLING, called: str = CALLED
) -> str:
    """Run pynetdicom's `app` (storescu, echoscu) against the service; its verbose log."""
    port = records.service.ports.settings.dimse_port
    assert port is not None
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pynetdicom", app, "127.0.0.1", str(port), *args,
        "-aet", calling, "-aec", called, "-v",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    return out.decode() + f"\nexit code {process.returncode}"


def statuses(log: str) -> list[str]:
    return re.findall(r"Received Store Response.*?Status: (0x[0-9A-Fa-f]{4})", log, re.S)


def files_of(tmp_path: Path, instances: list[Instance]) -> list[str]:
    paths = []
    for number, instance in enumerate(instances):
        path = tmp_path / f"push-{instance.sop}-{number}.dcm"
        path.write_bytes(instance.data)
        paths.append(str(path))
    return paths


async def test_a_pacs_echoes_then_pushes_a_study_into_the_childs_case(
    records: RecordsHarness, tmp_path: Path
) -> None:
    await records.submit("case-dimse", organization_id=ORGANIZATION)
    echo = await scu(records, "echoscu")
    assert "Received Echo Response (Status: 0x0000 - Success)" in echo, echo

    study = build_study((("CT_small.dcm", 2), ("MR_small.dcm", 1)))
    log = await scu(records, "storescu", *files_of(tmp_path, study))
    assert statuses(log) == ["0x0000"] * 3, log

    hospital = records.auth("hospital-system", organization=ORGANIZATION)
    found = await records.client.get("/dicomweb/studies?case_id=case-dimse", headers=hospital)
    assert found.status_code == 200, found.text
    assert [r["0020000D"]["Value"] for r in found.json()] == [[study[0].study]]
    path = f"/dicomweb/studies/{study[0].study}/series/{study[0].series}/instances/{study[0].sop}"
    wado = await records.client.get(path, headers=hospital)
    assert wado.status_code == 200, wado.text
    (stored,) = split_multipart(wado.content, wado.headers["content-type"])
    sent, got = dcmread(io.BytesIO(study[0].data)), dcmread(io.BytesIO(stored))
    assert (got.SOPInstanceUID, got.PixelData) == (sent.SOPInstanceUID, sent.PixelData)

    checklist = await records.checklist("case-dimse")
    assert {"ct-imaging", "mri-imaging"} <= set(checklist["present"])
    assert checklist["identity_check"] == {"status": "match", "findings": []}

    # Sent again (a PACS retrying): held already, so a success, and stored once.
    keys = await object_keys(records, "cases/case-dimse/")
    again = await scu(records, "storescu", *files_of(tmp_path, study[:1]))
    assert statuses(again) == ["0x0000"], again
    assert await object_keys(records, "cases/case-dimse/") == keys

    # Each stored instance is an access to the case, on the audit trail.
    outbox = records.service.ports.store.cases.database["audit_outbox"]
    audited = [CloudEvent.model_validate(d["event"]) async for d in outbox.find({})]
    pushes = [e.data for e in audited if e.data["method"] == "C-STORE"]
    assert len(pushes) == 4
    assert {(p["case_id"], p["outcome"], p["action"]) for p in pushes} == {
        ("case-dimse", "allowed", "C")
    }
    assert {(p["agent"]["subject"], p["agent"]["role"], p["agent"]["organization"])
            for p in pushes} == {(CALLING, "hospital-system", ORGANIZATION)}  # fmt: skip
    assert {p["entities"]["sop"] for p in pushes} == {i.sop for i in study}


async def test_a_pushed_study_makes_the_records_ready_as_a_stowed_one_does(
    records: RecordsHarness, tmp_path: Path
) -> None:
    await records.submit("case-dimse-ready", organization_id=ORGANIZATION)
    study = build_study()
    log = await scu(records, "storescu", *files_of(tmp_path, study))
    assert statuses(log) == ["0x0000"] * 5, log
    pdf = await records.upload("case-dimse-ready", "pathology-report", sample_pdf("pathology"))
    text = await records.upload("case-dimse-ready", "treatment-records", b"Cycle 1\n")
    assert (pdf.status_code, text.status_code) == (201, 201)
    waived = await records.client.post(
        "/cases/case-dimse-ready/checklist/current-medications/waive",
        json={"reason": "family will bring the list to the call"},
        headers=records.auth("intake-staff"),
    )
    assert waived.json()["records_ready"] is True, waived.text
    (ready_event,) = await eventually(
        lambda: events_on(records.stack, "records.ready", "case-dimse-ready")
    )
    ready = RecordsReady.model_validate(ready_event.data)
    assert [(s.study_instance_uid, s.series_count, s.instance_count) for s in ready.studies] == [
        (study[0].study, 2, 5)
    ]
    assert ready.identity_check.status == "match"


async def test_an_unknown_calling_or_called_ae_title_is_rejected_at_association(
    records: RecordsHarness, tmp_path: Path
) -> None:
    await records.submit("case-dimse-stranger", organization_id=ORGANIZATION)
    log = await scu(
        records, "storescu", *files_of(tmp_path, build_study((("CT_small.dcm", 1),))),
        calling="STRANGERPACS",
    )  # fmt: skip
    assert "Calling AE title not recognised" in log, log
    assert log.endswith("exit code 1")
    echo = await scu(records, "echoscu", called="OTHER-SCP")  # a PACS set up for another SCP
    assert "Called AE title not recognised" in echo, echo
    assert not await object_keys(records, "cases/case-dimse-stranger/")


async def test_a_patient_with_no_open_case_gets_a_failure_status(
    records: RecordsHarness, tmp_path: Path
) -> None:
    # The organization's open case is another child's (another MRN).
    other_child = sample_case().patient.model_copy(update={"mrn": "MRN-55-0000"})
    await records.submit("case-dimse-other", organization_id=ORGANIZATION, patient=other_child)
    stranger = build_study((("CT_small.dcm", 1),), patient_id="MRN000001")
    # The child's case in another organization is not this PACS's to fill either.
    await records.submit("case-dimse-elsewhere", organization_id="org-elsewhere")
    elsewhere = build_study((("CT_small.dcm", 1),))
    for instances in (stranger, elsewhere):
        log = await scu(records, "storescu", *files_of(tmp_path, instances))
        assert statuses(log) == ["0xC000"], log
        assert "MRN000001" not in log.split("Received Store Response")[-1]
    assert not await object_keys(records, "cases/")
    outbox = records.service.ports.store.cases.database["audit_outbox"]
    audited = [CloudEvent.model_validate(d["event"]) async for d in outbox.find({})]
    refused = [e.data for e in audited if e.data["method"] == "C-STORE"]
    assert [(p["case_id"], p["outcome"]) for p in refused] == [(None, "failed")] * 2


async def test_twenty_instances_in_one_association(records: RecordsHarness, tmp_path: Path) -> None:
    await records.submit("case-dimse-bulk", organization_id=ORGANIZATION)
    study = build_study((("CT_small.dcm", 20),))
    files = files_of(tmp_path, study)
    started = time.perf_counter()
    log = await scu(records, "storescu", *files)
    elapsed = time.perf_counter() - started
    assert statuses(log) == ["0x0000"] * 20, log
    print(f"\n20 instances by C-STORE in {elapsed:.2f}s ({20 / elapsed:.1f} instances/s)")
    checklist = await records.checklist("case-dimse-bulk")
    assert checklist["studies"][0]["instance_count"] == 20
    assert len(await object_keys(records, "cases/case-dimse-bulk/")) == 20
