"""What a file is, from its first bytes, and whether that fits what the uploader declared.

The file name and the declared Content-Type are never trusted: a PNG renamed `.pdf` is a PNG.
"""

from __future__ import annotations

from services.records.dicom import has_preamble
from services.records.rules import Accepts
from shared.errors import ApiError

PDF, DICOM, PNG, JPEG, ZIP, TEXT = (
    "application/pdf",
    "application/dicom",
    "image/png",
    "image/jpeg",
    "application/zip",
    "text/plain",
)
DOCUMENT_TYPES = frozenset({PDF, PNG, JPEG, TEXT})
IMAGING_TYPES = frozenset({DICOM, ZIP})
# Declared types that say nothing about the content.
UNSPECIFIED = frozenset({"", "application/octet-stream", "binary/octet-stream"})
ALIASES = {
    "application/x-pdf": PDF,
    "image/jpg": JPEG,
    "image/pjpeg": JPEG,
    "application/x-zip-compressed": ZIP,
    "application/x-zip": ZIP,
    "application/dicom+zip": ZIP,
}
# C0 controls other than tab, line feed, form feed and carriage return mean "binary".
_CONTROL = bytes(range(0, 9)) + b"\x0b" + bytes(range(14, 32)) + b"\x7f"


def sniff(head: bytes) -> str | None:
    """The media type the leading bytes show, or None when it is none we accept."""
    if has_preamble(head):
        return DICOM
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return ZIP
    if head and looks_like_text(head):
        return TEXT
    return None


def looks_like_text(head: bytes) -> bool:
    """No control characters, and UTF-8 or (rarely C1) Latin-1; a cut character at the end
    of the sample is forgiven."""
    if any(byte in _CONTROL for byte in head):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the end of the sample is still text.
        if exc.start < len(head) - 3:
            return _is_latin1_text(head)
    return True


def _is_latin1_text(head: bytes) -> bool:
    # Windows-1252 and Latin-1 letters; the C1 range 0x80-0x9f is rare in real text.
    return sum(0x80 <= b <= 0x9F for b in head) < len(head) // 100 + 1


def accepted_type(*, kind: str, accepts: Accepts, declared: str, detected: str | None) -> str:
    """The detected type when it fits the declared type and the checklist item, else a 4xx."""
    declared = ALIASES.get(declared, declared)
    dicom_wanted = accepts == "dicom" or declared == DICOM
    if detected is None:
        if dicom_wanted:
            raise _not_dicom("the content is not a DICOM file or a zip of DICOM files")
        raise ApiError(
            415,
            "unsupported_type",
            "file: the content is not a PDF, PNG, JPEG, plain text or DICOM file",
            "file",
        )
    if declared not in UNSPECIFIED and not _same_type(declared, detected):
        if declared == DICOM:
            raise _not_dicom(f"declared as DICOM but the content is {detected}")
        raise ApiError(
            415,
            "content_type_mismatch",
            f"file: declared as {declared} but the content is {detected}",
            "file",
        )
    if detected in IMAGING_TYPES and accepts == "document":
        raise ApiError(
            415,
            "unsupported_type",
            f"kind: {kind} takes documents (PDF, PNG, JPEG or text), not {detected}",
            "kind",
        )
    if detected not in IMAGING_TYPES and accepts == "dicom":
        raise _not_dicom(f"{kind} takes DICOM (a .dcm file or a zip of a CD), not {detected}")
    return detected


def _same_type(declared: str, detected: str) -> bool:
    if detected == TEXT:
        return declared.startswith("text/")
    return declared == detected


def _not_dicom(why: str) -> ApiError:
    return ApiError(422, "not_dicom", f"file: {why}", "file")
