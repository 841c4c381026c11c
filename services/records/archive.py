"""Zip archives of a patient CD, opened only after the whole archive proved safe.

Checked from the central directory before anything is extracted: entry names (no `..`, no
absolute paths, no drive letters), symlinks, encryption, entry count, total size, compression
ratio and overlapping entries (the "overlapping files" zip bomb). Extraction counts real bytes
too, since a header can lie. Nested archives are not opened.
"""

from __future__ import annotations

import hashlib
import itertools
import lzma
import re
import stat
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shared.errors import ApiError

CHUNK = 1024 * 1024
HEAD_BYTES = 512
# Small entries (a DICOMDIR full of zeros) compress very well and are harmless.
RATIO_FLOOR_BYTES = 1024 * 1024
_LOCAL_HEADER = 30
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class ArchiveLimits:
    max_entries: int
    max_total_bytes: int
    max_ratio: float


@dataclass(frozen=True)
class Extracted:
    size_bytes: int
    sha256: str
    head: bytes
    skipped: bool = False


def unsafe(message: str) -> ApiError:
    return ApiError(422, "unsafe_zip", f"file: {message}", "file")


def bomb(message: str, status: int = 422) -> ApiError:
    return ApiError(status, "zip_bomb", f"file: {message}", "file")


class SafeArchive:
    """A zip that passed every check; `files` are its regular files in directory order."""

    def __init__(self, path: Path, limits: ArchiveLimits) -> None:
        try:
            self._zip = zipfile.ZipFile(path)
        # NotImplementedError: an entry needs a newer zip version than Python reads.
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
            raise ApiError(
                422, "bad_archive", "file: the zip archive cannot be read", "file"
            ) from None
        try:
            self.files = _checked_entries(self._zip, path.stat().st_size, limits)
        except Exception:
            self._zip.close()
            raise

    def extract(
        self, info: zipfile.ZipInfo, target: Path, wanted: Callable[[bytes], bool]
    ) -> Extracted:
        """Copy one entry to `target` in chunks, hashing it, if its first bytes are `wanted`;
        never more bytes than the entry declared."""
        digest, size, head = hashlib.sha256(), 0, b""
        try:
            with self._zip.open(info) as source:
                head = source.read(HEAD_BYTES)
                if not wanted(head):
                    return Extracted(0, "", head, skipped=True)
                with target.open("wb") as sink:
                    chunk = head
                    while chunk:
                        size += len(chunk)
                        if size > info.file_size:
                            raise bomb("an entry holds more bytes than its header declares")
                        digest.update(chunk)
                        sink.write(chunk)
                        chunk = source.read(CHUNK)
        except (
            zipfile.BadZipFile,
            EOFError,
            OSError,  # a damaged bzip2 stream
            NotImplementedError,
            zlib.error,  # a damaged deflate stream
            lzma.LZMAError,
            UnicodeDecodeError,  # a local header's name that is not the UTF-8 it claims
        ):
            raise ApiError(
                422, "bad_archive", "file: an entry of the zip is damaged", "file"
            ) from None
        return Extracted(size, digest.hexdigest(), head)

    def close(self) -> None:
        self._zip.close()


def _checked_entries(
    archive: zipfile.ZipFile, archive_size: int, limits: ArchiveLimits
) -> list[zipfile.ZipInfo]:
    entries = archive.infolist()
    if len(entries) > limits.max_entries:
        raise bomb(f"the archive has more than {limits.max_entries} entries")
    total = 0
    for number, info in enumerate(entries, start=1):
        _check_name(info.filename, number)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise unsafe(f"entry {number} is a symbolic link")
        if info.flag_bits & 0x1:
            raise unsafe(f"entry {number} is encrypted")
        total += info.file_size
        if info.file_size > RATIO_FLOOR_BYTES and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            raise bomb(f"entry {number} expands more than {limits.max_ratio:g} times")
    if total > limits.max_total_bytes:
        raise bomb(f"the archive expands to more than {limits.max_total_bytes} bytes", 413)
    _check_no_overlap(entries, archive_size)
    return [info for info in entries if not info.is_dir()]


def _check_name(name: str, number: int) -> None:
    if not name:  # zipfile cuts a name at its first NUL
        raise unsafe(f"entry {number} has no name")
    parts = name.replace("\\", "/").split("/")
    if "\x00" in name or name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise unsafe(f"entry {number} has an absolute path")
    if ".." in parts:
        raise unsafe(f"entry {number} has a path that leaves the archive (`..`)")


def _check_no_overlap(entries: list[zipfile.ZipInfo], archive_size: int) -> None:
    """Every entry's data must end before the next entry starts: no shared compressed data."""
    ordered = sorted(entries, key=lambda i: i.header_offset)
    for current, following in itertools.pairwise(ordered):
        end = current.header_offset + _LOCAL_HEADER + _name_length(current)
        if end + current.compress_size > following.header_offset:
            raise bomb("entries of the archive overlap")
    if ordered:
        last = ordered[-1]
        if last.header_offset + _LOCAL_HEADER + last.compress_size > archive_size:
            raise bomb("an entry of the archive extends past its end")


def _name_length(info: zipfile.ZipInfo) -> int:
    # Names are UTF-8 when flag bit 11 is set, else CP437 (one byte per character).
    return len(info.orig_filename.encode()) if info.flag_bits & 0x800 else len(info.orig_filename)
