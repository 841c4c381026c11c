"""Resumable uploads straight to MinIO: a CD zip sent in parts to presigned URLs by a plain
HTTP client (no SDK, as a browser would), dropped part-way and resumed from the parts the store
already holds, then assembled and ingested like a posted file; a presigned URL writes its one
part only; an upload left open past its time is aborted by the sweep."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.records.resumable import MIN_PART_BYTES
from shared.contracts import CaseUpdated
from shared.contracts.common import Actor
from shared.envelope import make_event
from tests.integration.records.conftest import RecordsHarness, object_keys
from tests.integration.records.samples import build_study, zip_of
from tests.integration.records.test_records_dicom import qido, value
from tests.support import eventually, sample_pdf

pytestmark = pytest.mark.real

MIB = 1024 * 1024


@pytest.fixture
def records_settings() -> dict[str, Any]:
    return {"max_upload_bytes": 64 * MIB, "max_archive_bytes": 64 * MIB}


async def start(records: RecordsHarness, case_id: str, data: bytes, **body: Any) -> dict[str, Any]:
    asked = {"kind": "mri-imaging", "filename": "cd.zip", "size_bytes": len(data), **body}
    answer = await records.client.post(
        f"/cases/{case_id}/uploads",
        json=asked,
        headers=records.auth("guardian", case_ids=[case_id]),
    )
    assert answer.status_code == 201, answer.text
    session: dict[str, Any] = answer.json()
    return session


async def part_urls(
    records: RecordsHarness, case_id: str, upload_id: str, numbers: list[int]
) -> dict[str, Any]:
    answer = await records.client.post(
        f"/cases/{case_id}/uploads/{upload_id}/parts",
        json={"numbers": numbers},
        headers=records.auth("guardian", case_ids=[case_id]),
    )
    assert answer.status_code == 200, answer.text
    parts: dict[str, Any] = answer.json()
    return parts


async def upload_result(
    records: RecordsHarness, case_id: str, upload_id: str, headers: dict[str, str], within: float
) -> dict[str, Any]:
    """The upload once its background ingest ended, done or failed."""

    async def finished() -> dict[str, Any] | None:
        answer = await records.client.get(f"/cases/{case_id}/uploads/{upload_id}", headers=headers)
        body: dict[str, Any] = answer.json()
        return body if body["state"] in ("done", "failed") else None

    result: dict[str, Any] = await eventually(finished, within=within)
    return result


async def test_a_cd_zip_sent_in_parts_resumes_after_a_drop_and_is_ingested(
    records: RecordsHarness,
) -> None:
    case_id = "case-resume"
    await records.submit(case_id)
    study = build_study((("CT_small.dcm", 3), ("MR_small.dcm", 2)))
    # Padding that does not compress: three parts of 8 MiB at least.
    data = zip_of(study, extra={"CD/VIEWER/data.bin": os.urandom(2 * MIN_PART_BYTES + MIB)})
    family = records.auth("guardian", case_ids=[case_id])
    session = await start(records, case_id, data)
    assert (session["state"], session["part_size"], session["part_count"]) == (
        "open",
        MIN_PART_BYTES,
        3,
    )
    upload_id, size = session["upload_id"], session["part_size"]

    def chunk(number: int) -> bytes:
        return data[(number - 1) * size : number * size]

    async with httpx.AsyncClient(timeout=60) as http:
        # Two of three parts go up, then the connection drops (60% of the file).
        first = await part_urls(records, case_id, upload_id, [1, 2, 3])
        for part in first["urls"][:2]:
            put = await http.put(part["url"], content=chunk(part["number"]))
            assert put.status_code == 200, put.text
        early = await records.client.post(
            f"/cases/{case_id}/uploads/{upload_id}/complete", headers=family
        )
        assert early.status_code == 409
        assert early.json()["error"]["code"] == "upload_incomplete"

        # Later (new URLs: the old ones may have expired): the store says what it has.
        again = await part_urls(records, case_id, upload_id, [1, 2, 3])
        assert [p["number"] for p in again["uploaded"]] == [1, 2]
        assert [p["size_bytes"] for p in again["uploaded"]] == [size, size]
        missing = [p for p in again["urls"] if p["number"] not in (1, 2)]
        for part in missing:
            put = await http.put(part["url"], content=chunk(part["number"]))
            assert put.status_code == 200, put.text

        # A part URL is for its one object: the same signature for another key is refused.
        forged = httpx.URL(again["urls"][0]["url"])
        forged = forged.copy_with(path=forged.path.replace(upload_id, "someone-elses"))
        assert (await http.put(forged, content=b"x")).status_code == 403

    done = await records.client.post(
        f"/cases/{case_id}/uploads/{upload_id}/complete", headers=family
    )
    assert done.status_code == 202, done.text
    assert done.json()["state"] == "received"

    result = await upload_result(records, case_id, upload_id, family, within=60)
    assert result["state"] == "done", result
    assert result["result"]["instances_stored"] == 5
    assert result["result"]["studies"] == [study[0].study]
    (found,) = await qido(records, f"/studies?case_id={case_id}")
    assert value(found, "00201208") == 5
    checklist = await records.checklist(case_id)
    assert {s["study_instance_uid"] for s in checklist["studies"]} == {study[0].study}
    # The assembled file is gone once its instances are kept.
    assert await object_keys(records, f"incoming/{case_id}/") == []
    again_done = await records.client.post(
        f"/cases/{case_id}/uploads/{upload_id}/complete", headers=family
    )
    assert again_done.status_code == 409


async def test_uploads_are_the_case_holders_and_expire(records: RecordsHarness) -> None:
    case_id = "case-expire"
    await records.submit(case_id)
    session = await start(records, case_id, b"%PDF-1.4" + b"0" * 100, kind="pathology-report")
    upload_id = session["upload_id"]
    stranger = records.auth("guardian", case_ids=["another-case"])
    for method, path in (
        ("GET", f"/cases/{case_id}/uploads/{upload_id}"),
        ("POST", f"/cases/{case_id}/uploads/{upload_id}/complete"),
        ("DELETE", f"/cases/{case_id}/uploads/{upload_id}"),
    ):
        refused = await records.client.request(method, path, headers=stranger)
        assert refused.status_code == 404, (method, path, refused.text)
    too_big = await records.client.post(
        f"/cases/{case_id}/uploads",
        json={"kind": "mri-imaging", "filename": "huge.zip", "size_bytes": 65 * MIB},
        headers=records.auth("guardian", case_ids=[case_id]),
    )
    assert too_big.status_code == 413 and too_big.json()["error"]["field"] == "size_bytes"

    # Left open past its time: the sweep aborts it and its parts go.
    uploads = records.service.uploads
    await uploads.sessions._collection.update_one(
        {"_id": upload_id}, {"$set": {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}}
    )
    assert await uploads.sweep() >= 1
    status = await records.client.get(
        f"/cases/{case_id}/uploads/{upload_id}",
        headers=records.auth("guardian", case_ids=[case_id]),
    )
    assert status.json()["state"] == "aborted"


async def test_a_hospital_system_upload_is_ingested_for_its_own_organization(
    records: RecordsHarness,
) -> None:
    """The background ingest acts as the uploader: for a hospital's system that includes its
    organization (without it, every hospital upload failed as "case does not exist" and was
    retried by each sweep for ever)."""
    case_id = "case-hospital-upload"
    await records.submit(case_id, organization_id="org-north")
    hospital = records.auth("hospital-system", organization="org-north")
    data = sample_pdf("pathology")
    started = await records.client.post(
        f"/cases/{case_id}/uploads",
        json={"kind": "pathology-report", "filename": "path.pdf", "size_bytes": len(data)},
        headers=hospital,
    )
    assert started.status_code == 201, started.text
    upload_id = started.json()["upload_id"]
    parts = await records.client.post(
        f"/cases/{case_id}/uploads/{upload_id}/parts", json={"numbers": [1]}, headers=hospital
    )
    async with httpx.AsyncClient(timeout=60) as http:
        put = await http.put(parts.json()["urls"][0]["url"], content=data)
        assert put.status_code == 200, put.text
    done = await records.client.post(
        f"/cases/{case_id}/uploads/{upload_id}/complete", headers=hospital
    )
    assert done.status_code == 202, done.text

    result = await upload_result(records, case_id, upload_id, hospital, within=60)
    assert (result["state"], result["error"]) == ("done", None)
    assert "document_id" in result["result"]


async def test_an_upload_the_rules_refuse_at_ingest_fails_with_the_reason(
    records: RecordsHarness,
) -> None:
    """A refusal found only at ingest (the case was cancelled after its parts went up) ends
    the upload as failed with its code, instead of leaving it ingesting for the sweep."""
    case_id = "case-refused-at-ingest"
    await records.submit(case_id)
    family = records.auth("guardian", case_ids=[case_id])
    data = sample_pdf("pathology")
    session = await start(records, case_id, data, kind="pathology-report", filename="a.pdf")
    upload_id = session["upload_id"]
    parts = await part_urls(records, case_id, upload_id, [1])
    async with httpx.AsyncClient(timeout=60) as http:
        assert (await http.put(parts["urls"][0]["url"], content=data)).status_code == 200
    cancelled = CaseUpdated(
        case_id=case_id,
        change="cancelled",
        status="cancelled",
        specialty="neuro-oncology",
        actor=Actor(subject="staff-9", role="intake-staff"),
    )
    await records.publisher.publish([make_event(cancelled, source="/tests", subject=case_id)])

    async def closed() -> bool:
        answer = await records.client.post(
            f"/cases/{case_id}/uploads",
            json={"kind": "lab-results", "filename": "b.pdf", "size_bytes": 10},
            headers=family,
        )
        return answer.status_code == 409

    await eventually(closed)
    done = await records.client.post(
        f"/cases/{case_id}/uploads/{upload_id}/complete", headers=family
    )
    assert done.status_code == 202, done.text

    result = await upload_result(records, case_id, upload_id, family, within=30)
    assert result["state"] == "failed"
    assert result["error"]["code"] == "case_closed"
    assert await object_keys(records, f"incoming/{case_id}/") == []
