"""Content sniffing: the type comes from the bytes, and must fit the declaration and the item."""

from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from services.records.content_types import accepted_type, sniff
from services.records.rules import Accepts
from shared.errors import ApiError

DICOM_HEAD = Path(get_testdata_file("CT_small.dcm")).read_bytes()[:8192]


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", "application/pdf"),
        (DICOM_HEAD, "application/dicom"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"PK\x03\x04\x14\x00\x00\x00", "application/zip"),
        (b"Hemoglobin 11.2 g/dL\r\nPlatelets 240\n", "text/plain"),
        ("Medicación: ácido fólico".encode(), "text/plain"),
        ("Medicación".encode("latin-1"), "text/plain"),
        ("a\u00e9".encode()[:-1], "text/plain"),  # a character cut at the end of the sample
        (b"MZ\x90\x00\x03\x00\x00\x00", None),  # a Windows program
        (b"\x00\x00\x01\x00", None),
        (b"", None),
    ],
)
def test_the_leading_bytes_decide_the_type(head: bytes, expected: str | None) -> None:
    assert sniff(head) == expected


def test_a_pdf_named_like_anything_is_a_pdf() -> None:
    assert (
        accepted_type(
            kind="pathology-report", accepts="document", declared="", detected="application/pdf"
        )
        == "application/pdf"
    )


@pytest.mark.parametrize(
    ("kind", "accepts", "declared", "detected", "status", "code"),
    [
        ("mri-imaging", "dicom", "", "application/pdf", 422, "not_dicom"),
        ("mri-imaging", "dicom", "", None, 422, "not_dicom"),
        ("pathology-report", "document", "application/dicom", "application/pdf", 422, "not_dicom"),
        (
            "pathology-report",
            "document",
            "application/pdf",
            "image/png",
            415,
            "content_type_mismatch",
        ),
        ("pathology-report", "document", "", None, 415, "unsupported_type"),
        ("pathology-report", "document", "", "application/zip", 415, "unsupported_type"),
        ("lab-results", "document", "", "application/dicom", 415, "unsupported_type"),
    ],
)
def test_what_does_not_fit_is_refused_with_a_code(
    kind: str, accepts: Accepts, declared: str, detected: str | None, status: int, code: str
) -> None:
    with pytest.raises(ApiError) as refused:
        accepted_type(kind=kind, accepts=accepts, declared=declared, detected=detected)
    assert (refused.value.status, refused.value.code) == (status, code)
    assert refused.value.field in ("file", "kind")


@pytest.mark.parametrize(
    ("declared", "detected"),
    [
        ("application/octet-stream", "application/dicom"),
        ("application/x-zip-compressed", "application/zip"),
        ("image/jpg", "image/jpeg"),
        ("text/csv", "text/plain"),
    ],
)
def test_generic_and_alias_declarations_are_accepted(declared: str, detected: str) -> None:
    accepts: Accepts = (
        "dicom" if detected.startswith(("application/dicom", "application/zip")) else "document"
    )
    assert (
        accepted_type(kind="k", accepts=accepts, declared=declared, detected=detected) == detected
    )
