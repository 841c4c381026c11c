"""Documents are parsed before they are kept: a PDF must have its structure, an image must
decode, a text file must be text all the way through; the first bytes alone prove nothing."""

import io
from pathlib import Path

import pytest
from PIL import Image, ImageFile

from services.records.document_content import check_document
from shared.errors import ApiError
from tests.support import sample_pdf

# As tests/e2e/web_journey.py uploads it: a trailer naming /Root, no startxref.
PDF_WITHOUT_XREF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def _file(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "upload"
    path.write_bytes(data)
    return path


def _image(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.radial_gradient("L").convert("RGB").save(buffer, fmt)
    return buffer.getvalue()


def _refused(tmp_path: Path, data: bytes, media_type: str) -> str:
    with pytest.raises(ApiError) as refused:
        check_document(_file(tmp_path, data), media_type)
    assert (refused.value.status, refused.value.code) == (422, "damaged_document")
    assert refused.value.field == "file"
    assert refused.value.message.startswith("file: ")
    return refused.value.message


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        (sample_pdf(), "application/pdf"),
        (PDF_WITHOUT_XREF, "application/pdf"),
        (sample_pdf() + b"\r\n\x00\x00", "application/pdf"),  # padding after %%EOF
        (_image("PNG"), "image/png"),
        (_image("JPEG"), "image/jpeg"),
        ("Cycle 1: vincristine, día 8\n".encode() * 5000, "text/plain"),
        ("Cycle 1: vincristine, día 8\n".encode("latin-1") * 5000, "text/plain"),
    ],
    ids=["pdf", "pdf-trailer-only", "pdf-padded", "png", "jpeg", "utf8-text", "latin1-text"],
)
def test_whole_documents_are_accepted(tmp_path: Path, data: bytes, media_type: str) -> None:
    check_document(_file(tmp_path, data), media_type)


def test_random_bytes_behind_a_pdf_header_are_refused(tmp_path: Path) -> None:
    noise = bytes(range(256)) * 40
    assert "PDF" in _refused(tmp_path, b"%PDF-1.7\n" + noise, "application/pdf")
    assert "PDF" in _refused(tmp_path, b"%PDF-1.7 pathology", "application/pdf")


def test_a_pdf_cut_short_is_refused(tmp_path: Path) -> None:
    whole = sample_pdf()
    for cut in (len(whole) // 3, len(whole) // 2, len(whole) - 8):
        _refused(tmp_path, whole[:cut], "application/pdf")


def test_a_pdf_whose_startxref_points_nowhere_is_refused(tmp_path: Path) -> None:
    whole = sample_pdf()
    offset = whole.rsplit(b"startxref\n", 1)[1].split(b"\n")[0]
    broken = whole.replace(b"startxref\n" + offset, b"startxref\n" + b"9" * len(offset))
    broken = broken.replace(b"trailer", b"tr4iler")
    assert "cross-reference" in _refused(tmp_path, broken, "application/pdf")


@pytest.mark.parametrize(
    ("fmt", "media_type", "signature"),
    [("PNG", "image/png", b"\x89PNG\r\n\x1a\n"), ("JPEG", "image/jpeg", b"\xff\xd8\xff")],
)
@pytest.mark.parametrize("pillow_forgives_truncation", [False, True])
def test_images_that_do_not_decode_are_refused(
    tmp_path: Path,
    fmt: str,
    media_type: str,
    signature: bytes,
    pillow_forgives_truncation: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # WeasyPrint turns Pillow's truncation check off for the whole process when imported.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", pillow_forgives_truncation)
    assert "image" in _refused(tmp_path, signature + bytes(range(256)) * 8, media_type)
    whole = _image(fmt)
    _refused(tmp_path, whole[: len(whole) // 2], media_type)
    flipped = bytearray(whole)
    flipped[len(whole) // 2] ^= 0xFF
    if fmt == "PNG":  # PNG's checksums catch a flipped byte; JPEG has none to catch it
        _refused(tmp_path, bytes(flipped), media_type)


def test_a_text_file_with_binary_past_its_first_bytes_is_refused(tmp_path: Path) -> None:
    data = b"Lab results, all normal.\n" * 1000 + bytes(range(32)) * 10
    assert "text" in _refused(tmp_path, data, "text/plain")
