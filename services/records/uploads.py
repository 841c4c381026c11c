"""Receiving uploads with constant memory: multipart bodies are parsed as they stream in, every
file part is spooled to a temporary file while its SHA-256 and size are computed, and the size
limit stops the upload the moment it is passed."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MAX_BOUNDARY_LENGTH, MultipartParser, parse_options_header

from shared.errors import ApiError

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

HEAD_BYTES = 8192
FEED_BYTES = 1024 * 1024
MAX_FIELD_BYTES = 8192
MAX_FIELDS = 32
# Room for part headers and boundaries on top of the file size limit.
ENVELOPE_BYTES = 64 * 1024
Multipart = Literal["form-data", "related"]


@dataclass
class SpooledFile:
    """One received file part: where it is on disk, its digest, and its first bytes."""

    path: Path
    filename: str
    declared_type: str
    size_bytes: int = 0
    sha256: str = ""
    head: bytes = b""


@dataclass
class ReceivedBody:
    fields: dict[str, str] = field(default_factory=dict)
    files: list[SpooledFile] = field(default_factory=list)


class Spool:
    """A private temporary directory for one request; everything in it goes when it closes."""

    def __init__(self, parent: Path | None = None) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="records-", dir=parent))
        self._count = 0

    def new_path(self, suffix: str = "") -> Path:
        self._count += 1
        return self.directory / f"{self._count:06d}{suffix}"

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


@asynccontextmanager
async def spooled(parent: Path | None) -> AsyncIterator[Spool]:
    """A spool for one request's files, removed when the request is done."""
    spool = await asyncio.to_thread(Spool, parent)
    try:
        yield spool
    finally:
        await asyncio.to_thread(spool.close)


def too_large(limit: int) -> ApiError:
    return ApiError(
        413, "too_large", f"file: the upload is larger than the limit of {limit} bytes", "file"
    )


async def receive_multipart(
    stream: AsyncIterator[bytes],
    *,
    content_type: str,
    content_length: str | None,
    expected: Multipart,
    spool: Spool,
    max_bytes: int,
) -> ReceivedBody:
    """Parse a multipart body from the request stream, spooling file parts into `spool`."""
    body = ReceivedBody()
    parts = stream_multipart(
        stream,
        content_type=content_type,
        content_length=content_length,
        expected=expected,
        spool=spool,
        max_bytes=max_bytes,
        fields=body.fields,
    )
    body.files.extend([part async for part in parts])
    return body


async def stream_multipart(
    stream: AsyncIterator[bytes],
    *,
    content_type: str,
    content_length: str | None,
    expected: Multipart,
    spool: Spool,
    max_bytes: int,
    fields: dict[str, str] | None = None,
) -> AsyncIterator[SpooledFile]:
    """Each file part, spooled whole, as soon as its closing boundary has been read, while the
    rest of the body is still arriving (so storing one part overlaps receiving the next).
    Raises at the point of a parse error; form fields land in `fields`."""
    boundary = _boundary(content_type, expected)
    declared_length = int(content_length) if content_length and content_length.isdigit() else 0
    if declared_length > max_bytes + ENVELOPE_BYTES:
        raise too_large(max_bytes)  # refused before a byte of the body is read
    receiver = _PartReceiver(spool, expected, max_bytes)
    if fields is not None:
        receiver.body.fields = fields
    parser = MultipartParser(boundary, receiver.callbacks())
    buffer = bytearray()
    handed = 0
    try:
        async for chunk in stream:
            buffer += chunk
            if len(buffer) >= FEED_BYTES:
                # Parsing, hashing and writing happen off the event loop.
                await asyncio.to_thread(parser.write, bytes(buffer))
                buffer.clear()
                for part in receiver.body.files[handed:]:
                    handed += 1
                    yield part
        await asyncio.to_thread(parser.write, bytes(buffer))
        await asyncio.to_thread(parser.finalize)
    except MultipartParseError:
        raise ApiError(400, "malformed_body", "the multipart body cannot be parsed") from None
    finally:
        receiver.close()
    if not receiver.complete:
        raise ApiError(400, "malformed_body", "the multipart body ends before its last boundary")
    for part in receiver.body.files[handed:]:
        yield part


def _boundary(content_type: str, expected: Multipart) -> bytes:
    mime, params = parse_options_header(content_type)
    wanted = f"multipart/{expected}".encode()
    if mime != wanted:
        raise ApiError(
            415, "unsupported_media_type", f"Content-Type must be {wanted.decode()}", "Content-Type"
        )
    if expected == "related" and params.get(b"type", b"").lower() != b"application/dicom":
        raise ApiError(
            415,
            "unsupported_media_type",
            'Content-Type must be multipart/related; type="application/dicom"',
            "Content-Type",
        )
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiError(400, "malformed_body", "Content-Type has no boundary", "Content-Type")
    if len(boundary) > MAX_BOUNDARY_LENGTH:  # the parser would refuse it with a ValueError
        raise ApiError(400, "malformed_body", "the boundary is too long", "Content-Type")
    return boundary


class _PartReceiver:
    """The parser's callbacks: headers per part, then its bytes to a field or a spooled file."""

    def __init__(self, spool: Spool, expected: Multipart, max_bytes: int) -> None:
        self._spool = spool
        self._expected = expected
        self._max_bytes = max_bytes
        self._received = 0
        self.body = ReceivedBody()
        self.complete = False
        self._headers: dict[bytes, bytes] = {}
        self._header_name = b""
        self._header_value = b""
        self._field: tuple[str, bytearray] | None = None
        self._file: SpooledFile | None = None
        self._sink: IO[bytes] | None = None
        self._digest = hashlib.sha256()

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _begin(self) -> None:
        self._headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_name.strip().lower()] = self._header_value.strip()
        self._header_name, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        declared = self._headers.get(b"content-type", b"").decode("latin-1")
        declared = declared.split(";")[0].strip().lower()
        if self._expected == "related":
            self._open_file("", declared)
            return
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in params:
            self._open_file(params[b"filename"].decode("utf-8", "replace"), declared, name)
        else:
            if len(self.body.fields) >= MAX_FIELDS:
                raise ApiError(413, "too_large", f"the form has more than {MAX_FIELDS} fields")
            self._field = (name, bytearray())

    def _open_file(self, filename: str, declared: str, name: str = "file") -> None:
        if name != "file":
            raise ApiError(422, "invalid_field", f"{name}: only the part `file` may hold a file")
        self._file = SpooledFile(self._spool.new_path(), safe_filename(filename), declared)
        self._sink = self._file.path.open("wb")
        self._digest = hashlib.sha256()

    def _data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._file is not None and self._sink is not None:
            self._received += len(chunk)
            if self._received > self._max_bytes:
                raise too_large(self._max_bytes)
            if len(self._file.head) < HEAD_BYTES:
                self._file.head += chunk[: HEAD_BYTES - len(self._file.head)]
            self._digest.update(chunk)
            self._sink.write(chunk)
        elif self._field is not None:
            self._field[1].extend(chunk)
            if len(self._field[1]) > MAX_FIELD_BYTES:
                raise ApiError(413, "too_large", f"{self._field[0]}: the field is too long")

    def _part_end(self) -> None:
        if self._file is not None and self._sink is not None:
            self._sink.close()
            self._file.size_bytes = self._file.path.stat().st_size
            self._file.sha256 = self._digest.hexdigest()
            self.body.files.append(self._file)
        elif self._field is not None:
            name, value = self._field
            self.body.fields[name] = value.decode("utf-8", "replace")
        self._file, self._sink, self._field = None, None, None

    def _end(self) -> None:
        self.complete = True

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()


def safe_filename(name: str) -> str:
    """The last path component, printable, at most 200 characters (a field of the manifest)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = " ".join("".join(c for c in base if c.isprintable()).split())
    return cleaned[-200:] or "upload"
