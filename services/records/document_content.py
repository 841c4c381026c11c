"""Whether a document is whole: parsed, not sniffed. `content_types.sniff` names the type from
the first bytes; here the file is read as that type, so random bytes behind `%PDF-`, a cut
image or a binary file that starts like text are refused before anything is stored.

A PDF is checked for its structure (header, `%%EOF`, and a cross-reference table that
`startxref` points at, or a trailer naming the catalog), not rendered: the service holds no PDF
parser, and readers repair what this lets through. Images are decoded with Pillow (JPEG at an
eighth of its size, which still reads every byte of it). Text must be text all the way through.
"""

from __future__ import annotations

import mmap
import re
import warnings
from pathlib import Path
from typing import IO

from PIL import Image, UnidentifiedImageError

from services.records import content_types
from shared.errors import ApiError

# Readers look for the header in the first 1024 bytes and `%%EOF` in the last 1024.
PDF_WINDOW = 1024
PDF_TRAILER_WINDOW = 64 * 1024
_PDF_HEADER = re.compile(rb"%PDF-[12]\.[0-9]")
_STARTXREF = re.compile(rb"startxref\s+([0-9]{1,20})\s+%%EOF")
_XREF_AT = re.compile(rb"\s*(xref|[0-9]+\s+[0-9]+\s+obj)")
_TRAILER = re.compile(rb"trailer\s*<<.*?/Root\s+[0-9]+\s+[0-9]+\s+R", re.DOTALL)
PILLOW_FORMATS = {content_types.PNG: "PNG", content_types.JPEG: "JPEG"}
TEXT_CHUNK = 1024 * 1024


def check_document(path: Path, media_type: str) -> None:
    """Raises a 422 `damaged_document` naming what is wrong, never quoting the content."""
    if media_type == content_types.PDF:
        _check_pdf(path)
    elif media_type in PILLOW_FORMATS:
        _check_image(path, PILLOW_FORMATS[media_type])
    elif media_type == content_types.TEXT:
        _check_text(path)


def damaged(why: str) -> ApiError:
    return ApiError(422, "damaged_document", f"file: {why}", "file")


def _check_pdf(path: Path) -> None:
    size = path.stat().st_size
    with path.open("rb") as fp:
        head = fp.read(PDF_WINDOW)
        fp.seek(max(0, size - PDF_TRAILER_WINDOW))
        tail = fp.read()
        header = _PDF_HEADER.search(head)
        if header is None:
            raise damaged("the PDF has no %PDF- header with a version")
        if b"%%EOF" not in tail[-PDF_WINDOW:]:
            raise damaged("the PDF is incomplete or damaged: it does not end with %%EOF")
        pointers = _STARTXREF.findall(tail)
        if pointers and _points_at_xref(fp, int(pointers[-1]), header.start(), size):
            return
    if _TRAILER.search(tail) is None:
        raise damaged("the PDF is damaged: its cross-reference table cannot be found")


def _points_at_xref(fp: IO[bytes], offset: int, header_at: int, size: int) -> bool:
    """`startxref` gives the offset of the table or stream; some writers count from the
    header rather than from the first byte of the file."""
    for start in {offset, offset + header_at}:
        if start < size:
            fp.seek(start)
            if _XREF_AT.match(fp.read(64)):
                return True
    return False


_PNG_END = b"IEND\xaeB`\x82"


def _image_is_whole(path: Path, expected: str) -> bool:
    """Whether the image reaches its end marker. Pillow's own truncation check is a
    process-wide switch another library may turn off (WeasyPrint does, on import)."""
    if path.stat().st_size == 0:
        return False
    with path.open("rb") as fp, mmap.mmap(fp.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if expected == "PNG":  # IEND is the last chunk
            return data.find(_PNG_END, max(len(data) - 1024, 0)) != -1
        # JPEG: walk the segments to the first scan (skipping an EXIF thumbnail, a whole JPEG
        # of its own), then find EOI: in scan data 0xFF is followed only by 0x00 or a restart
        # marker, so the first FFD9 after it ends the image (phones may append data after).
        at = 2
        while at + 4 <= len(data) and data[at] == 0xFF:
            marker, length = data[at + 1], int.from_bytes(data[at + 2 : at + 4], "big")
            if marker == 0xDA:
                return data.find(b"\xff\xd9", at + 2 + length) != -1
            at += 2 + length
        return False


def _check_image(path: Path, expected: str) -> None:
    if not _image_is_whole(path, expected):
        raise damaged(f"the {expected} image is incomplete: its end is missing")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=[expected]) as image:
                image.verify()  # chunk checksums (PNG) and structure, before decoding
            with Image.open(path, formats=[expected]) as image:
                if expected == "JPEG":
                    image.draft(image.mode, (image.width // 8, image.height // 8))
                image.load()
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ApiError(
            422, "image_too_large", "file: the image has too many pixels to check", "file"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        # Pillow's messages can quote text chunks of the file: not passed on.
        raise damaged(f"the {expected} image is damaged or incomplete") from None


def _check_text(path: Path) -> None:
    with path.open("rb") as fp:
        while chunk := fp.read(TEXT_CHUNK):
            if not content_types.looks_like_text(chunk):
                raise damaged("the text file holds binary data after its first bytes")
