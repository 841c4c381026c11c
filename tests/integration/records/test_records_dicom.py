"""DICOM in and out on the real servers: a patient CD as a zip (with and without DICOMDIR),
STOW-RS, QIDO-RS and WADO-RS byte for byte, duplicates, the identity check and de-identified
copies."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from pydicom import dcmread

from shared.auth import Role
from tests.integration.records.conftest import RecordsHarness, object_keys
from tests.integration.records.samples import (
    CASE_PATIENT,
    build_study,
    split_multipart,
    stow_body,
    zip_of,
)

pytestmark = pytest.mark.real
DICOM_JSON = "application/dicom+json"


async def qido(records: RecordsHarness, path: str, role: Role = "expert") -> list[dict[str, Any]]:
    response = await records.client.get(f"/dicomweb{path}", headers=records.auth(role))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(DICOM_JSON)
    result: list[dict[str, Any]] = response.json()
    return result


async def wado(records: RecordsHarness, path: str, role: Role = "expert") -> list[bytes]:
    response = await records.client.get(f"/dicomweb{path}", headers=records.auth(role))
    assert response.status_code == 200, response.text
    content_type = response.headers["content-type"]
    assert content_type.startswith('multipart/related; type="application/dicom"')
    return split_multipart(response.content, content_type)


def value(result: dict[str, Any], tag: str) -> Any:
    return result[tag]["Value"][0] if "Value" in result[tag] else None


def ingested(what: str, channel: str) -> float:
    name = f"sop_records_ingested_{what}_total"
    return REGISTRY.get_sample_value(name, {"channel": channel}) or 0.0


def stow_failures() -> float:
    (family,) = [m for m in REGISTRY.collect() if m.name == "sop_records_ingest_failures"]
    return sum(
        s.value
        for s in family.samples
        if s.name.endswith("_total") and s.labels["channel"] == "stow"
    )


async def stow(
    records: RecordsHarness,
    case_id: str,
    parts: list[bytes],
    role: Role = "intake-staff",
    **auth: Any,
) -> httpx.Response:
    body, content_type = stow_body(parts)
    return await records.client.post(
        f"/dicomweb/studies?case_id={case_id}",
        content=body,
        headers={**records.auth(role, **auth), "Content-Type": content_type},
    )


@pytest.mark.parametrize("dicomdir", [False, True], ids=["plain-folders", "with-dicomdir"])
async def test_a_cd_zip_is_indexed_and_every_instance_reads_back_byte_identical(
    records: RecordsHarness, dicomdir: bool
) -> None:
    await records.submit("case-cd")
    study = build_study((("CT_small.dcm", 4), ("MR_small.dcm", 3)))
    extra = {"CD/VIEWER/viewer.exe": b"MZ\x90\x00" * 100, "CD/README.TXT": b"Open viewer.exe"}
    response = await records.upload(
        "case-cd", "mri-imaging", zip_of(study, dicomdir=dicomdir, extra=extra)
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["instances_stored"], body["duplicates"], body["conflicts"]) == (7, 0, [])
    assert body["skipped_files"] == (3 if dicomdir else 2)  # the DICOMDIR, the viewer, the readme

    (found,) = await qido(records, "/studies?case_id=case-cd")
    assert (value(found, "0020000D"), value(found, "00201206"), value(found, "00201208")) == (
        study[0].study, 2, 7
    )  # fmt: skip
    assert found["00080061"]["Value"] == ["CT", "MR"]
    # Staff may retrieve the files, which name the patient: the search result names her too.
    assert found["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": CASE_PATIENT["name"]}]}
    assert value(found, "00100020") == CASE_PATIENT["patient_id"]

    series = await qido(records, f"/studies/{study[0].study}/series")
    assert sorted((value(s, "00080060"), value(s, "00201209")) for s in series) == [
        ("CT", 4), ("MR", 3)
    ]  # fmt: skip
    for instance in study:
        listed = await qido(
            records, f"/studies/{instance.study}/series/{instance.series}/instances"
        )
        assert instance.sop in {value(i, "00080018") for i in listed}
        path = f"/studies/{instance.study}/series/{instance.series}/instances/{instance.sop}"
        assert await wado(records, path) == [instance.data]

    by_study = await wado(records, f"/studies/{study[0].study}")
    assert sorted(by_study) == sorted(i.data for i in study)
    checklist = await records.checklist("case-cd")
    assert {"mri-imaging", "ct-imaging"} <= set(checklist["present"])
    assert checklist["identity_check"] == {"status": "match", "findings": []}


async def test_qido_pages_studies_in_case_order_and_filters_by_study_uid(
    records: RecordsHarness,
) -> None:
    studies = {}
    for case_id in ("case-q2", "case-q1", "case-q3"):
        await records.submit(case_id)
        (studies[case_id],) = build_study((("MR_small.dcm", 1),))
        assert (await stow(records, case_id, [studies[case_id].data])).status_code == 200
    in_order = [studies[c].study for c in ("case-q1", "case-q2", "case-q3")]

    def uids(results: list[dict[str, Any]]) -> list[str]:
        return [value(r, "0020000D") for r in results]

    assert uids(await qido(records, "/studies")) == in_order
    assert uids(await qido(records, "/studies?limit=1&offset=1")) == in_order[1:2]
    assert uids(await qido(records, "/studies?offset=2")) == in_order[2:]
    assert uids(await qido(records, f"/studies?StudyInstanceUID={in_order[1]}")) == in_order[1:2]
    one_case = records.auth(case_ids=["case-q1"])
    response = await records.client.get("/dicomweb/studies?case_id=case-q2", headers=one_case)
    assert (response.status_code, response.json()) == (200, [])


async def test_stow_stores_instances_once_and_reports_conflicting_copies(
    records: RecordsHarness,
) -> None:
    await records.submit("case-pacs", organization_id="org-9")
    study = build_study((("MR_small.dcm", 3),))
    parts = [i.data for i in study]
    pacs = {"role": "hospital-system", "organization": "org-9"}

    stored_before = ingested("instances", "stow"), ingested("bytes", "stow")
    refused_before = stow_failures()
    first = await stow(records, "case-pacs", parts, **pacs)
    assert first.status_code == 200, first.text
    assert (ingested("instances", "stow"), ingested("bytes", "stow")) == (
        stored_before[0] + 3,
        stored_before[1] + sum(len(part) for part in parts),
    )
    assert first.headers["content-type"].startswith(DICOM_JSON)
    referenced = first.json()["00081199"]["Value"]
    assert {r["00081155"]["Value"][0] for r in referenced} == {i.sop for i in study}
    keys = await object_keys(records, "cases/case-pacs/")
    assert len(keys) == 1  # one request's instances in one pack (services/records/packs.py)

    again = await stow(records, "case-pacs", parts, **pacs)
    assert again.status_code == 200
    assert await object_keys(records, "cases/case-pacs/") == keys  # stored once

    changed = dcmread(io.BytesIO(parts[0]))
    changed.SeriesDescription = "re-exported"
    buffer = io.BytesIO()
    changed.save_as(buffer)
    conflict = await stow(records, "case-pacs", [buffer.getvalue()], **pacs)
    assert conflict.status_code == 409
    assert ingested("instances", "stow") == stored_before[0] + 3  # the repeat stored nothing
    assert stow_failures() == refused_before + 1
    failed = conflict.json()["00081198"]["Value"][0]
    assert failed["00081155"]["Value"] == [study[0].sop]
    assert failed["00081197"]["Value"] == [0x0111]
    path = f"/studies/{study[0].study}/series/{study[0].series}/instances/{study[0].sop}"
    assert await wado(records, path) == [parts[0]]  # the first copy is kept


async def test_one_request_with_repeats_and_a_conflict_claims_each_instance_once(
    records: RecordsHarness,
) -> None:
    """An instance sent twice in one request is stored once; one whose UID an earlier upload
    holds with other bytes fails alone, and the rest of the request is stored."""
    await records.submit("case-batch", organization_id="org-9")
    study = build_study((("CT_small.dcm", 12),))
    parts = [i.data for i in study]
    pacs = {"role": "hospital-system", "organization": "org-9"}
    assert (await stow(records, "case-batch", parts[:1], **pacs)).status_code == 200

    changed = dcmread(io.BytesIO(parts[0]))
    changed.SeriesDescription = "re-exported"
    buffer = io.BytesIO()
    changed.save_as(buffer)
    mixed = [buffer.getvalue(), *parts[1:], parts[5], parts[7]]
    response = await stow(records, "case-batch", mixed, **pacs)

    assert response.status_code == 202, response.text  # stored, with one failure
    stored = response.json()["00081199"]["Value"]
    # A repeat of the same bytes is a success, as a second STOW of the study would be.
    expected = sorted([*(i.sop for i in study[1:]), study[5].sop, study[7].sop])
    assert sorted(r["00081155"]["Value"][0] for r in stored) == expected
    failed = response.json()["00081198"]["Value"]
    assert [f["00081155"]["Value"] for f in failed] == [[study[0].sop]]
    assert len(await object_keys(records, "cases/case-batch/")) == 2  # a pack per request
    series = f"/studies/{study[0].study}/series/{study[0].series}"
    assert sorted(await wado(records, series)) == sorted(parts)


async def test_a_stow_request_names_its_case_or_uses_a_single_case_token(
    records: RecordsHarness,
) -> None:
    await records.submit("case-scope", organization_id="org-3")
    part = build_study((("CT_small.dcm", 1),))[0].data
    hospital = {**records.auth("hospital-system", organization="org-3")}
    # Another child's images, sent by the hospital without naming a case: no case is theirs.
    other_child = build_study((("CT_small.dcm", 1),), patient_id="MRN000001")[0].data
    body, content_type = stow_body([other_child])
    unnamed = await records.client.post(
        "/dicomweb/studies", content=body, headers={**hospital, "Content-Type": content_type}
    )
    error = unnamed.json()["error"]
    assert (unnamed.status_code, error["code"], error["field"]) == (
        422, "case_not_identified", "case_id"
    )  # fmt: skip
    # Staff act on every case: they name it.
    staff_body, _ = stow_body([part])
    staff = await records.client.post(
        "/dicomweb/studies",
        content=staff_body,
        headers={**records.auth(), "Content-Type": content_type},
    )
    assert staff.json()["error"]["code"] == "case_not_identified"
    # The child's own images: the PatientID is the case's MRN in the hospital's organization.
    # One instance of another child in the same request refuses the whole request.
    mixed, _ = stow_body([part, other_child])
    refused = await records.client.post(
        "/dicomweb/studies", content=mixed, headers={**hospital, "Content-Type": content_type}
    )
    assert refused.status_code == 409, refused.text
    body, _ = stow_body([part])
    by_patient = await records.client.post(
        "/dicomweb/studies", content=body, headers={**hospital, "Content-Type": content_type}
    )
    assert by_patient.status_code == 200, by_patient.text
    assert (await records.checklist("case-scope"))["studies"]
    scoped = await records.client.post(
        "/dicomweb/studies",
        content=body,
        headers={
            **records.auth("hospital-system", organization="org-3", case_ids=["case-scope"]),
            "Content-Type": content_type,
        },
    )
    assert scoped.status_code == 200, scoped.text
    other_org = await stow(records, "case-scope", [part], "hospital-system", organization="org-4")
    assert other_org.status_code == 404


async def test_an_identity_mismatch_is_flagged_by_field_name(records: RecordsHarness) -> None:
    await records.submit("case-who")
    stranger = build_study((("CT_small.dcm", 2),), name="DOE^JOHN", birth_date="20120101")
    response = await records.upload("case-who", "ct-imaging", zip_of(stranger))
    assert response.status_code == 201
    checklist = await records.checklist("case-who")
    assert checklist["identity_check"] == {
        "status": "mismatch",
        "findings": ["PatientBirthDate", "PatientName"],
    }
    assert checklist["studies"][0]["identity_check"]["status"] == "mismatch"
    assert "DOE" not in str(checklist) and "20120101" not in str(checklist)


async def test_staff_make_a_deidentified_copy_that_experts_can_read(
    records: RecordsHarness,
) -> None:
    await records.submit("case-anon")
    study = build_study((("CT_small.dcm", 2), ("MR_small.dcm", 1)))
    await records.upload("case-anon", "mri-imaging", zip_of(study))
    path = f"/cases/case-anon/studies/{study[0].study}/deidentify"

    guardian = await records.client.post(
        path, json={}, headers=records.auth("guardian", case_ids=["case-anon"])
    )
    assert guardian.status_code == 403
    made = await records.client.post(
        path,
        json={"retain_longitudinal_temporal_information": True},
        headers=records.auth("intake-staff"),
    )
    assert made.status_code == 201, made.text
    copy = made.json()
    assert (copy["series_count"], copy["instance_count"]) == (2, 3)
    assert copy["study_instance_uid"] != study[0].study
    again = await records.client.post(
        path,
        json={"retain_longitudinal_temporal_information": True},
        headers=records.auth("intake-staff"),
    )
    assert (again.status_code, again.json()["study_instance_uid"]) == (
        200,
        copy["study_instance_uid"],
    )

    listed = (await records.checklist("case-anon"))["deidentified"]
    assert [c["study_instance_uid"] for c in listed] == [copy["study_instance_uid"]]
    studies = await qido(records, "/studies?case_id=case-anon")
    anonymous = next(s for s in studies if value(s, "0020000D") == copy["study_instance_uid"])
    assert value(anonymous, "00120062") == "YES"
    files = await wado(records, f"/studies/{copy['study_instance_uid']}")
    assert len(files) == 3
    for data in files:
        ds = dcmread(io.BytesIO(data))
        assert (ds.PatientIdentityRemoved, str(ds.PatientName)) == ("YES", "ANONYMOUS")
        assert ds.StudyDate in ("20040119", "20040826")  # CT_small, MR_small: kept by the option
        assert [c.CodeValue for c in ds.DeidentificationMethodCodeSequence] == ["113100", "113106"]
        assert b"QUINTEROFAKE" not in data and b"20160409" not in data
    originals = {i.sop for i in study}
    assert not originals & {dcmread(io.BytesIO(d)).SOPInstanceUID for d in files}
