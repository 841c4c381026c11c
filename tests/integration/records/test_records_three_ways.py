"""The three ways a study comes in end the same way (issue 16): a PACS's C-STORE (pynetdicom's
storescu), a DICOMweb STOW-RS request, and a family's CD zip sent in parts to presigned URLs
by a plain HTTP client. Each of three cases gets a study of the same shape by one way, then
the same documents; all three checklists come out the same and each case publishes
`records.ready` with the same study summary and identity check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.contracts import RecordsReady
from tests.integration.records.conftest import RecordsHarness
from tests.integration.records.samples import Instance, build_study, zip_of
from tests.integration.records.test_records_dicom import stow
from tests.integration.records.test_records_dimse import (
    ORGANIZATION,
    dimse_settings,
    files_of,
    scu,
    statuses,
)
from tests.integration.records.test_records_resumable import part_urls, start, upload_result
from tests.support import eventually, sample_pdf
from tests.topic_reading import events_on

pytestmark = pytest.mark.real
SHAPE = (("CT_small.dcm", 3), ("MR_small.dcm", 2))


@pytest.fixture
def records_settings() -> dict[str, Any]:
    return dimse_settings()


async def pushed(records: RecordsHarness, case_id: str, study: list[Instance], tmp: Path) -> None:
    log = await scu(records, "storescu", *files_of(tmp, study))
    assert statuses(log) == ["0x0000"] * len(study), log


async def stowed(records: RecordsHarness, case_id: str, study: list[Instance]) -> None:
    answer = await stow(records, case_id, [i.data for i in study])
    assert answer.status_code == 200, answer.text


async def sent_in_parts(records: RecordsHarness, case_id: str, study: list[Instance]) -> None:
    data = zip_of(study)
    family = records.auth("guardian", case_ids=[case_id])
    session = await start(records, case_id, data)
    upload_id, size = session["upload_id"], session["part_size"]
    urls = await part_urls(records, case_id, upload_id, list(range(1, session["part_count"] + 1)))
    async with httpx.AsyncClient(timeout=60) as http:
        for part in urls["urls"]:
            start_at = (part["number"] - 1) * size
            put = await http.put(part["url"], content=data[start_at : start_at + size])
            assert put.status_code == 200, put.text
    done = await records.client.post(
        f"/cases/{case_id}/uploads/{upload_id}/complete", headers=family
    )
    assert done.status_code == 202, done.text
    result = await upload_result(records, case_id, upload_id, family, within=60)
    assert result["state"] == "done", result


async def completed(records: RecordsHarness, case_id: str) -> RecordsReady:
    """The other records sent, the missing list waived; the case's records.ready."""
    pdf = await records.upload(case_id, "pathology-report", sample_pdf("pathology"))
    text = await records.upload(case_id, "treatment-records", b"Cycle 1\n")
    assert (pdf.status_code, text.status_code) == (201, 201)
    waived = await records.client.post(
        f"/cases/{case_id}/checklist/current-medications/waive",
        json={"reason": "family will bring the list to the call"},
        headers=records.auth("intake-staff"),
    )
    assert waived.json()["records_ready"] is True, waived.text
    (event,) = await eventually(lambda: events_on(records.stack, "records.ready", case_id))
    return RecordsReady.model_validate(event.data)


def outcome(checklist: dict[str, Any]) -> dict[str, Any]:
    """What a checklist says, without what differs by nature (ids, times, names of files)."""
    return {
        "present": sorted(checklist["present"]),
        "missing": sorted(checklist["missing"]),
        "records_ready": checklist["records_ready"],
        "identity_check": checklist["identity_check"],
        "studies": sorted(
            (s["modalities"] and tuple(sorted(s["modalities"])), s["instance_count"])
            for s in checklist["studies"]
        ),
    }


async def test_a_study_pushed_stowed_or_sent_in_parts_ends_in_the_same_checklist(
    records: RecordsHarness, tmp_path: Path
) -> None:
    # The PACS's case first: C-STORE finds the case by the patient's id in its organization.
    await records.submit("case-by-cstore", organization_id=ORGANIZATION)
    by_cstore = build_study(SHAPE)
    await pushed(records, "case-by-cstore", by_cstore, tmp_path)
    await records.submit("case-by-stow", organization_id="org-other")
    by_stow = build_study(SHAPE)
    await stowed(records, "case-by-stow", by_stow)
    await records.submit("case-by-parts", organization_id="org-other")
    by_parts = build_study(SHAPE)
    await sent_in_parts(records, "case-by-parts", by_parts)

    studies = {"case-by-cstore": by_cstore, "case-by-stow": by_stow, "case-by-parts": by_parts}
    outcomes = []
    for case_id, study in studies.items():
        ready = await completed(records, case_id)
        summary = [(s.study_instance_uid, s.series_count, s.instance_count) for s in ready.studies]
        assert summary == [(study[0].study, 2, 5)], case_id
        assert ready.identity_check.status == "match", case_id
        outcomes.append(outcome(await records.checklist(case_id)))
    assert outcomes[0] == outcomes[1] == outcomes[2]
    assert outcomes[0]["studies"] == [(("CT", "MR"), 5)]
