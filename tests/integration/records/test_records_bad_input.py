"""Bad input on the real servers: a clear 4xx with a machine code and a sentence naming the
field, no patient details in it, and nothing stored or half-visible afterwards."""

from __future__ import annotations

import io
import stat
import zipfile

import httpx
import pytest

from shared.contracts import RecordsRequested
from tests.integration.records.conftest import RecordsHarness, object_keys
from tests.integration.records.samples import build_study, stow_body
from tests.support import eventually, sample_pdf
from tests.topic_reading import events_on

pytestmark = pytest.mark.real
PHI = ("Amelia", "Quinterofake", "QUINTEROFAKE", "2016-04-09", "20160409", "MRN-77")


def refused(response: httpx.Response, status: int, code: str) -> dict[str, str]:
    assert response.status_code == status, response.text
    error: dict[str, str] = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    for value in PHI:
        assert value not in response.text
    return error


async def nothing_stored(records: RecordsHarness, case_id: str) -> None:
    assert await object_keys(records, f"cases/{case_id}/") == []
    instances = records.service.ports.store.instances
    assert await instances.count_documents({"case_id": case_id}) == 0
    checklist = await records.checklist(case_id)
    assert (checklist["documents"], checklist["studies"]) == ([], [])


def zip_with(entries: dict[str, bytes], symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "../../etc/passwd")
    return buffer.getvalue()


async def test_dicom_that_is_cut_short_or_not_dicom_at_all_is_refused(
    records: RecordsHarness,
) -> None:
    await records.submit("case-bad")
    whole = build_study((("CT_small.dcm", 1),))[0].data
    truncated = await records.upload("case-bad", "ct-imaging", whole[: len(whole) // 2])
    assert "the file" in refused(truncated, 422, "not_dicom")["message"]
    pdf = await records.upload("case-bad", "mri-imaging", b"%PDF-1.4 not an image")
    assert refused(pdf, 422, "not_dicom")["field"] == "file"
    declared = await records.upload(
        "case-bad", "pathology-report", b"%PDF-1.4", content_type="application/dicom"
    )
    refused(declared, 422, "not_dicom")
    await nothing_stored(records, "case-bad")


async def test_documents_that_do_not_parse_are_refused_and_leave_nothing(
    records: RecordsHarness,
) -> None:
    await records.submit("case-parse")
    noise = b"%PDF-1.7\n" + bytes(range(256)) * 40
    pdf = await records.upload("case-parse", "pathology-report", noise)
    assert "PDF" in refused(pdf, 422, "damaged_document")["message"]
    cut = await records.upload("case-parse", "lab-results", sample_pdf()[:300])
    assert refused(cut, 422, "damaged_document")["field"] == "file"
    png = await records.upload("case-parse", "lab-results", b"\x89PNG\r\n\x1a\n" + bytes(500))
    refused(png, 422, "damaged_document")
    await nothing_stored(records, "case-parse")


async def test_dicom_with_a_corrupted_uid_is_refused_and_leaves_nothing(
    records: RecordsHarness,
) -> None:
    await records.submit("case-uid")
    instance = build_study((("CT_small.dcm", 1),))[0]
    sop = instance.sop.encode()
    # A bit flipped in the file meta's copy of the SOP Instance UID: a digit becomes a colon.
    corrupted = instance.data.replace(sop, sop[:-1] + b":", 1)
    response = await records.upload("case-uid", "ct-imaging", corrupted)
    error = refused(response, 422, "invalid_dicom")
    assert "MediaStorageSOPInstanceUID" in error["message"] and "the file" in error["message"]
    await nothing_stored(records, "case-uid")


async def test_a_cd_with_one_broken_file_is_refused_whole_and_leaves_nothing(
    records: RecordsHarness,
) -> None:
    await records.submit("case-half")
    study = build_study((("CT_small.dcm", 6), ("MR_small.dcm", 6)))
    entries = {i.path: i.data for i in study}
    broken = study[-1]
    entries[broken.path] = broken.data[:-500]
    response = await records.upload("case-half", "mri-imaging", zip_with(entries))
    assert "entry 12" in refused(response, 422, "not_dicom")["message"]
    await nothing_stored(records, "case-half")
    qido = await records.client.get("/dicomweb/studies?case_id=case-half", headers=records.auth())
    assert qido.json() == []


@pytest.mark.parametrize(
    ("entries", "symlink"),
    [
        ({"CD/../../escape.dcm": b"x"}, None),
        ({"/etc/cron.d/escape": b"x"}, None),
        ({"C:/Windows/escape.dcm": b"x"}, None),
        ({"CD/IM1": b"x"}, "CD/link"),
    ],
    ids=["dot-dot", "absolute", "drive-letter", "symlink"],
)
async def test_unsafe_zips_are_refused(
    records: RecordsHarness, entries: dict[str, bytes], symlink: str | None
) -> None:
    await records.submit("case-zip")
    response = await records.upload("case-zip", "mri-imaging", zip_with(entries, symlink))
    refused(response, 422, "unsafe_zip")
    await nothing_stored(records, "case-zip")


async def test_zip_bombs_are_refused_by_ratio_and_by_total_size(records: RecordsHarness) -> None:
    await records.submit("case-bomb")
    ratio = await records.upload("case-bomb", "mri-imaging", zip_with({"z": bytes(4 * 2**20)}))
    refused(ratio, 422, "zip_bomb")
    # Forty 1 MB entries: each too small for the ratio rule, together over the 32 MB limit.
    many = zip_with({f"CD/IM{i}": bytes(2**20) for i in range(40)})
    refused(await records.upload("case-bomb", "mri-imaging", many), 413, "zip_bomb")
    await nothing_stored(records, "case-bomb")


async def test_empty_oversized_and_mistyped_uploads_are_refused(records: RecordsHarness) -> None:
    await records.submit("case-size")
    empty = await records.upload("case-size", "lab-results", b"")
    assert refused(empty, 422, "empty_file")["field"] == "file"
    big = await records.upload("case-size", "lab-results", b"%PDF" + bytes(9 * 2**20))
    refused(big, 413, "too_large")
    png_as_pdf = await records.upload(
        "case-size",
        "lab-results",
        b"\x89PNG\r\n\x1a\n" + bytes(100),
        content_type="application/pdf",
    )
    refused(png_as_pdf, 415, "content_type_mismatch")
    program = await records.upload("case-size", "lab-results", b"MZ\x90\x00\x03" + bytes(100))
    refused(program, 415, "unsupported_type")
    json_body = await records.client.post(
        "/cases/case-size/documents", json={"kind": "lab-results"}, headers=records.auth()
    )
    refused(json_body, 415, "unsupported_media_type")
    unknown_kind = await records.upload("case-size", "x-rays-of-the-cat", b"%PDF-1.4")
    assert refused(unknown_kind, 422, "unknown_item")["field"] == "kind"
    await nothing_stored(records, "case-size")


async def test_stow_with_a_part_that_is_not_dicom_stores_nothing(records: RecordsHarness) -> None:
    await records.submit("case-stow")
    good = build_study((("MR_small.dcm", 2),))
    body, content_type = stow_body([good[0].data, b"%PDF-1.4 oops", good[1].data])
    response = await records.client.post(
        "/dicomweb/studies?case_id=case-stow",
        content=body,
        headers={**records.auth(), "Content-Type": content_type},
    )
    # PS3.18 10.5.3: nothing stored is a 409 whose FailedSOPSequence gives each instance's
    # FailureReason: C000H for the part that is not DICOM, 0110H for those refused with it.
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/dicom+json"
    failures = response.json()["00081198"]["Value"]
    reasons = sorted(f["00081197"]["Value"][0] for f in failures)
    assert reasons == [0x0110, 0x0110, 0xC000]
    assert "00081199" not in response.json()
    wrong = await records.client.post(
        "/dicomweb/studies?case_id=case-stow",
        content=body,
        headers={**records.auth(), "Content-Type": content_type.replace("dicom", "pdf")},
    )
    refused(wrong, 415, "unsupported_media_type")
    await nothing_stored(records, "case-stow")


async def test_tokens_are_required_and_checked(records: RecordsHarness) -> None:
    await records.submit("case-auth")
    url = "/cases/case-auth/checklist"
    refused(await records.client.get(url), 401, "unauthenticated")
    garbage = {"Authorization": "Bearer not.a.token"}
    refused(await records.client.get(url, headers=garbage), 401, "invalid_token")
    expired = records.auth(ttl_s=-120)  # beyond the 30 s leeway
    refused(await records.client.get(url, headers=expired), 401, "token_expired")
    for path in ("/healthz", "/metrics"):
        assert (await records.client.get(path)).status_code == 200


async def test_cases_are_only_visible_to_those_who_may_see_them(records: RecordsHarness) -> None:
    await records.submit("case-mine", organization_id="org-1")
    refused(await records.upload("case-nobody", "lab-results", b"%PDF-1.4"), 404, "not_found")
    family = records.auth("guardian", case_ids=["case-mine"])
    other_family = records.auth("guardian", case_ids=["case-other"])
    ok = await records.upload("case-mine", "lab-results", sample_pdf("a"), headers=family)
    assert ok.status_code == 201
    stranger = await records.upload(
        "case-mine", "lab-results", sample_pdf("b"), headers=other_family
    )
    refused(stranger, 404, "not_found")
    peek = await records.client.get("/cases/case-mine/checklist", headers=other_family)
    refused(peek, 404, "not_found")
    expert_upload = await records.upload(
        "case-mine", "lab-results", sample_pdf("c"), headers=records.auth("expert")
    )
    refused(expert_upload, 403, "forbidden")
    other_hospital = records.auth("hospital-system", organization="org-2")
    refused(
        await records.upload("case-mine", "lab-results", b"%PDF", headers=other_hospital),
        404,
        "not_found",
    )
    waive = await records.client.post(
        "/cases/case-mine/checklist/pathology-report/waive", json={"reason": "x"}, headers=family
    )
    refused(waive, 403, "forbidden")
    qido = await records.client.get("/dicomweb/studies", headers=family)
    refused(qido, 403, "forbidden")
    # Admin manages the roster and partners and sees no clinical content.
    admin = records.auth("admin")
    refused(await records.client.get("/cases/case-mine/checklist", headers=admin), 403, "forbidden")
    refused(await records.client.get("/dicomweb/studies", headers=admin), 403, "forbidden")
    admin_upload = await records.upload("case-mine", "lab-results", sample_pdf("d"), headers=admin)
    refused(admin_upload, 403, "forbidden")


async def test_staff_requests_and_waivers(records: RecordsHarness) -> None:
    await records.submit("case-ask")
    staff = records.auth("intake-staff")
    not_required = await records.client.post(
        "/cases/case-ask/checklist/lab-results/waive", json={"reason": "n/a"}, headers=staff
    )
    refused(not_required, 422, "not_required")
    no_reason = await records.client.post(
        "/cases/case-ask/checklist/pathology-report/waive", json={}, headers=staff
    )
    assert refused(no_reason, 422, "invalid_field")["field"] == "reason"
    asked = await records.client.post(
        "/cases/case-ask/requests",
        json={"items": ["pathology-report", "mri-imaging"], "message": "Please send the CD."},
        headers=staff,
    )
    assert asked.status_code == 202, asked.text
    (event,) = await eventually(lambda: events_on(records.stack, "records.requested", "case-ask"))
    request = RecordsRequested.model_validate(event.data)
    assert request.items == ["pathology-report", "mri-imaging"]
    assert request.requested_by.role == "intake-staff"
    unknown = await records.client.post(
        "/cases/case-ask/requests", json={"items": ["cat-photos"]}, headers=staff
    )
    assert refused(unknown, 422, "unknown_item")["field"] == "items"
