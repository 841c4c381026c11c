"""Mutated DICOM files and hostile zips uploaded through the records API (documents and
STOW-RS) against the real stack: stored, or refused with a 4xx and a code; never a 5xx."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.budget import fuzz
from tests.fuzz.test_dicom_reader import mutated_dicom
from tests.fuzz.test_zip_reader import hostile_zips
from tests.integration.records.conftest import (  # noqa: F401  (fixtures)
    RecordsHarness,
    records,
    records_settings,
)

# pydicom and zipfile warn about the damage they read past (values quoted): expected here.
pytestmark = [pytest.mark.real, pytest.mark.filterwarnings("ignore::UserWarning")]

CASE_ID = "case-fuzz-upload"
BOUNDARY = "fuzz-stow"


def _stow(parts: list[bytes]) -> bytes:
    head = f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
    return b"".join(head + p + b"\r\n" for p in parts) + f"--{BOUNDARY}--\r\n".encode()


@fuzz(default=40)
@given(
    body=mutated_dicom() | hostile_zips(),
    kind=st.sampled_from(["mri-imaging", "ct-imaging", "other-imaging", "pathology-report"]),
    declared=st.sampled_from(["application/octet-stream", "application/dicom", "application/zip"]),
    stow=st.booleans(),
)
async def test_hostile_uploads_are_stored_or_refused_with_a_4xx(
    records: RecordsHarness,  # noqa: F811
    body: bytes,
    kind: str,
    declared: str,
    stow: bool,
) -> None:
    if not await records.service.ports.store.load(CASE_ID):
        await records.submit(CASE_ID)
    if stow:
        response = await records.client.post(
            "/dicomweb/studies",
            params={"case_id": CASE_ID},
            content=_stow([body]),
            headers={
                **records.auth(),
                "Content-Type": f'multipart/related; type="application/dicom"; boundary={BOUNDARY}',
            },
        )
    else:
        response = await records.upload(CASE_ID, kind, body, content_type=declared)
    assert response.status_code < 500, response.text
    if stow and response.status_code == 409:
        assert "00081198" in response.json()  # STOW's FailedSOPSequence: a conflicting copy
    elif response.status_code >= 400:
        assert response.json()["error"]["code"]
