"""Streaming multipart bodies to disk: constant memory, digests on the way, early 413."""

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.records.uploads import (
    Multipart,
    ReceivedBody,
    Spool,
    receive_multipart,
    safe_filename,
)
from shared.errors import ApiError

BOUNDARY = "b0und4ry"
FORM = f"multipart/form-data; boundary={BOUNDARY}"
RELATED = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'


def form_body(
    kind: str, filename: str, data: bytes, content_type: str = "application/pdf"
) -> bytes:
    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="kind"\r\n\r\n{kind}\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


class Stream:
    """A request body arriving in chunks; remembers how much the server actually read."""

    def __init__(self, body: bytes, chunk: int = 65536) -> None:
        self._body, self._chunk, self.read = body, chunk, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self._body), self._chunk):
            piece = self._body[start : start + self._chunk]
            self.read += len(piece)
            yield piece


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path)


async def receive(
    stream: Stream,
    spool: Spool,
    content_type: str = FORM,
    max_bytes: int = 10**7,
    length: str | None = None,
) -> ReceivedBody:
    expected: Multipart = "related" if "related" in content_type else "form-data"
    return await receive_multipart(
        aiter(stream), content_type=content_type, content_length=length,
        expected=expected, spool=spool, max_bytes=max_bytes,
    )  # fmt: skip


async def test_a_file_part_is_spooled_with_its_digest_and_the_fields_are_read(spool: Spool) -> None:
    data = os.urandom(3 * 1024 * 1024 + 5)
    body = await receive(
        Stream(form_body("pathology-report", "C:\\scans\\report.pdf", data)), spool
    )
    assert body.fields == {"kind": "pathology-report"}
    (upload,) = body.files
    assert (upload.filename, upload.declared_type, upload.size_bytes) == (
        "report.pdf", "application/pdf", len(data)
    )  # fmt: skip
    assert upload.sha256 == hashlib.sha256(data).hexdigest()
    assert upload.head == data[:8192]
    assert upload.path.read_bytes() == data
    assert upload.path.parent == spool.directory


async def test_an_oversized_upload_stops_as_soon_as_the_limit_is_passed(spool: Spool) -> None:
    stream = Stream(form_body("lab-results", "big.pdf", bytes(20 * 1024 * 1024)))
    with pytest.raises(ApiError) as error:
        await receive(stream, spool, max_bytes=2 * 1024 * 1024)
    assert (error.value.status, error.value.code) == (413, "too_large")
    assert stream.read < 4 * 1024 * 1024  # far from the 20 MB that were on offer


async def test_a_declared_length_over_the_limit_is_refused_before_reading(spool: Spool) -> None:
    stream = Stream(form_body("lab-results", "a.pdf", b"%PDF"))
    with pytest.raises(ApiError) as error:
        await receive(stream, spool, max_bytes=1000, length=str(10**9))
    assert error.value.status == 413
    assert stream.read == 0


@pytest.mark.parametrize(
    ("content_type", "status", "code"),
    [
        ("application/json", 415, "unsupported_media_type"),
        ("multipart/form-data", 400, "malformed_body"),
        (f"multipart/related; boundary={BOUNDARY}", 415, "unsupported_media_type"),
    ],
)
async def test_wrong_content_types_are_refused(
    spool: Spool, content_type: str, status: int, code: str
) -> None:
    expected_related = "related" in content_type
    with pytest.raises(ApiError) as error:
        await receive_multipart(
            aiter(Stream(b"")), content_type=content_type, content_length=None,
            expected="related" if expected_related else "form-data", spool=spool, max_bytes=100,
        )  # fmt: skip
    assert (error.value.status, error.value.code) == (status, code)


async def test_a_body_cut_before_its_last_boundary_is_malformed(spool: Spool) -> None:
    body = form_body("lab-results", "a.pdf", b"%PDF-1.4 data")
    with pytest.raises(ApiError) as error:
        await receive(Stream(body[:-30]), spool)
    assert (error.value.status, error.value.code) == (400, "malformed_body")


async def test_stow_parts_are_each_spooled(spool: Spool) -> None:
    parts = [os.urandom(1000), os.urandom(70000)]
    body = (
        b"".join(
            f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + p + b"\r\n"
            for p in parts
        )
        + f"--{BOUNDARY}--\r\n".encode()
    )
    received = await receive(Stream(body, chunk=777), spool, content_type=RELATED)
    assert [f.path.read_bytes() for f in received.files] == parts
    assert {f.declared_type for f in received.files} == {"application/dicom"}


def test_file_names_lose_paths_and_control_characters() -> None:
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("scan\x00\n 1.pdf") == "scan 1.pdf"
    assert safe_filename("") == "upload"
    assert len(safe_filename("x" * 500 + ".pdf")) == 200
