"""Hostile request bodies: mutated multipart/form-data uploads and STOW-RS multipart/related
bodies are parsed or refused with a 4xx, never a crash; what is parsed is whole."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

from services.records.uploads import Multipart, Spool, receive_multipart
from shared.errors import ApiError
from tests.fuzz.budget import fuzz
from tests.fuzz.mutations import SAMPLES, mutated

BOUNDARY = "b0und4ry"
CONTENT_TYPES: dict[Multipart, list[str]] = {
    "form-data": [
        f"multipart/form-data; boundary={BOUNDARY}",
        f'multipart/form-data; boundary="{BOUNDARY}"',
        "multipart/form-data",
        "multipart/form-data; boundary=",
        f"multipart/mixed; boundary={BOUNDARY}",
        f"MULTIPART/FORM-DATA; boundary={BOUNDARY}; charset=é",
    ],
    "related": [
        f'multipart/related; type="application/dicom"; boundary={BOUNDARY}',
        f"multipart/related; type=application/dicom; boundary={BOUNDARY}",
        f'multipart/related; type="application/pdf"; boundary={BOUNDARY}',
        f'multipart/related; type="application/dicom"; boundary="{"x" * 300}"',
        "multipart/related; boundary",
    ],
}
MAX_BYTES = 256 * 1024
FILE = SAMPLES["CT_small.dcm"][:4096]


def form_body(kind: str, filename: str, data: bytes) -> bytes:
    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="kind"\r\n\r\n{kind}\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{filename}"\r\n'
            "Content-Type: application/dicom\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


def related_body(parts: list[bytes]) -> bytes:
    body = b"".join(
        f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + part + b"\r\n"
        for part in parts
    )
    return body + f"--{BOUNDARY}--\r\n".encode()


BODIES: dict[Multipart, list[bytes]] = {
    "form-data": [
        form_body("mri-imaging", "IM1.dcm", FILE),
        form_body("pathology-report", "../../é\x00.pdf", b"%PDF-1.4 x"),
    ],
    "related": [related_body([FILE, FILE[:100]]), related_body([b""])],
}


async def _chunks(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


@st.composite
def requests(draw: st.DrawFn) -> tuple[Multipart, str, str | None, bytes, int]:
    expected: Multipart = draw(st.sampled_from(["form-data", "related"]))
    # Starlette decodes header values as latin-1, so nothing beyond U+00FF ever arrives.
    latin1 = st.text(st.characters(max_codepoint=0xFF), max_size=60)
    content_type = draw(st.sampled_from(CONTENT_TYPES[expected]) | latin1)
    body = draw(st.sampled_from(BODIES[expected]))
    if draw(st.booleans()):
        body = draw(mutated(body))
    length = draw(st.sampled_from([None, str(len(body)), "-1", "99999999999", "abc", "0"]))
    return expected, content_type, length, body, draw(st.sampled_from([1, 7, 512, 65536]))


@fuzz(default=300)
@given(requests())
@example(("form-data", CONTENT_TYPES["form-data"][0], None, BODIES["form-data"][0][:-7], 512))
# A boundary longer than the parser's 256 characters raised FormParserError (a 500).
@example(("related", CONTENT_TYPES["related"][3], None, BODIES["related"][0], 512))
async def test_mutated_bodies_are_parsed_or_refused(
    tmp_path: Path, request: tuple[Multipart, str, str | None, bytes, int]
) -> None:
    expected, content_type, length, body, chunk = request
    spool = Spool(tmp_path)
    try:
        received = await receive_multipart(
            _chunks(body, chunk),
            content_type=content_type,
            content_length=length,
            expected=expected,
            spool=spool,
            max_bytes=MAX_BYTES,
        )
    except ApiError as refused:
        assert 400 <= refused.status < 500, refused.code
        return
    finally:
        spool.close()
    for part in received.files:
        assert part.size_bytes <= MAX_BYTES
        assert len(part.sha256) == len(hashlib.sha256().hexdigest())
        assert "/" not in part.filename and "\x00" not in part.filename
