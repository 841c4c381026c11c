"""Hostile zips of a patient CD: mutated archives of real DICOM files, bombs, traversal names,
duplicates, nested zips and lying headers are read or refused with a 4xx, never a crash."""

from __future__ import annotations

import io
import stat
import struct
import zipfile
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from services.records.archive import ArchiveLimits, SafeArchive
from services.records.dicom import MediaDirectory, NotDicom, has_preamble, read_header
from shared.errors import ApiError
from tests.fuzz.budget import fuzz
from tests.fuzz.mutations import SAMPLES, mutated

# pydicom and zipfile warn about the damage they read past: expected here.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

LIMITS = ArchiveLimits(max_entries=50, max_total_bytes=8 * 1024 * 1024, max_ratio=100)
NAMES = [
    "DICOM/IM1",
    "DICOM/ST1/SE1/IM2.dcm",
    "DICOMDIR",
    "README.TXT",
    "../evil.dcm",
    "DICOM/../../evil",
    "/etc/passwd",
    "C:\\x.dcm",
    "a\\..\\..\\b",
    "nul\x00byte",
    "ünïcödé/ÍM.dcm",
    "dir/",
    "DICOM/IM1",  # a duplicate of the first
]
METHODS = [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]


@st.composite
def entries(draw: st.DrawFn) -> list[tuple[zipfile.ZipInfo, bytes]]:
    found = []
    for _ in range(draw(st.integers(1, 5))):
        info = zipfile.ZipInfo(draw(st.sampled_from(NAMES) | st.text(min_size=1, max_size=30)))
        info.compress_type = draw(st.sampled_from(METHODS))
        content = draw(
            st.sampled_from(sorted(SAMPLES)).map(SAMPLES.__getitem__)
            | st.binary(max_size=200)
            | st.integers(1, 1536 * 1024).map(bytes)  # zeros: a bomb by ratio
            | st.just(b"nested")
        )
        if content == b"nested":
            content = _zip([(zipfile.ZipInfo("inner.dcm"), SAMPLES["CT_small.dcm"])])
        if draw(st.integers(0, 29)) == 0:
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
        found.append((info, content))
    return found


def _zip(members: list[tuple[zipfile.ZipInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for info, content in members:
            try:
                archive.writestr(info, content)
            except ValueError:
                continue  # zipfile itself refuses to write some names (a directory with data)
    return buffer.getvalue()


@st.composite
def lying_headers(draw: st.DrawFn, data: bytes) -> bytes:
    """Declared sizes, offsets, name lengths and flags changed in the central directory and in
    local headers: enormous declared sizes, encryption, entries that overlap."""
    raw = bytearray(data)
    spots = [
        i for i in range(len(raw) - 4) if bytes(raw[i : i + 4]) in (b"PK\x01\x02", b"PK\x03\x04")
    ]
    for _ in range(draw(st.integers(1, 4))):
        if not spots:
            break
        at = draw(st.sampled_from(spots))
        central = raw[at : at + 4] == b"PK\x01\x02"
        fields = (
            {"flags": (8, "H"), "method": (10, "H"), "csize": (20, "I"), "size": (24, "I"),
             "name": (28, "H"), "extra": (30, "H"), "offset": (42, "I"), "attr": (38, "I")}
            if central
            else {"flags": (6, "H"), "method": (8, "H"), "csize": (18, "I"), "size": (22, "I"),
                  "name": (26, "H"), "extra": (28, "H")}
        )  # fmt: skip
        offset, kind = fields[draw(st.sampled_from(sorted(fields)))]
        top = 0xFFFF if kind == "H" else 0xFFFFFFFF
        value = draw(st.sampled_from([0, 1, top, top - 1, top >> 1]) | st.integers(0, top))
        if at + offset + struct.calcsize(kind) <= len(raw):
            struct.pack_into(f"<{kind}", raw, at + offset, value)
    return bytes(raw)


@st.composite
def damaged_data(draw: st.DrawFn, data: bytes) -> bytes:
    """Bytes flipped inside the first entry's compressed data, headers left intact."""
    (name_length, extra_length) = struct.unpack_from("<HH", data, 26)
    start = 30 + name_length + extra_length
    (compressed,) = struct.unpack_from("<I", data, 18)
    raw = bytearray(data)
    for _ in range(draw(st.integers(1, 16))):
        if compressed:
            raw[start + draw(st.integers(0, compressed - 1))] ^= draw(st.integers(1, 255))
    return bytes(raw)


def _compressed_cd(method: int, flips: range) -> bytes:
    info = zipfile.ZipInfo("DICOM/IM1")
    info.compress_type = method
    raw = bytearray(_zip([(info, SAMPLES["CT_small.dcm"])]))
    for at in flips:
        raw[at] ^= 0xFF
    return bytes(raw)


def _needs_version(version: int) -> bytes:
    raw = bytearray(_zip([(zipfile.ZipInfo("DICOM/IM1"), SAMPLES["CT_small.dcm"])]))
    struct.pack_into("<H", raw, raw.index(b"PK\x01\x02") + 6, version)
    return bytes(raw)


def _local_name_not_utf8() -> bytes:
    raw = bytearray(_zip([(zipfile.ZipInfo("DICOM/IM1"), SAMPLES["CT_small.dcm"])]))
    raw[7] |= 0x08  # flag bit 11 (UTF-8 names), in the high byte of the little-endian flags
    raw[30] = 0xC0
    return bytes(raw)


def _nameless() -> bytes:
    """An entry named NUL, which zipfile reads as the empty name."""
    raw = _zip([(zipfile.ZipInfo("Q"), b"data")])
    return raw.replace(b"Q", b"\x00")


@st.composite
def hostile_zips(draw: st.DrawFn) -> bytes:
    data = _zip(draw(entries()))
    how = draw(st.sampled_from(["as built", "bytes", "headers", "both", "data"]))
    if how == "data" and data.startswith(b"PK\x03\x04"):
        data = draw(damaged_data(data))
    if how in ("headers", "both"):
        data = draw(lying_headers(data))
    if how in ("bytes", "both"):
        data = draw(mutated(data))
    return data


def ingest_archive(path: Path, spool: Path) -> int:
    """What the records service does with an uploaded zip, minus storage: check, extract the
    files with a DICOM preamble, read their headers. Returns how many instances were read."""
    archive = SafeArchive(path, LIMITS)
    read = 0
    try:
        for number, info in enumerate(archive.files):
            target = spool / f"{number:04d}.dcm"
            got = archive.extract(info, target, has_preamble)
            if got.skipped:
                continue
            assert got.size_bytes <= info.file_size
            try:
                read_header(target)
                read += 1
            except (NotDicom, MediaDirectory):
                pass
    finally:
        archive.close()
    return read


def _assert_read_or_refused(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "cd.zip"
    path.write_bytes(data)
    spool = tmp_path / "spool"
    spool.mkdir(exist_ok=True)
    try:
        ingest_archive(path, spool)
    except ApiError as refused:
        assert 400 <= refused.status < 500
        assert refused.code in ("bad_archive", "unsafe_zip", "zip_bomb"), refused.code


@fuzz(default=250)
@given(hostile_zips())
# A damaged deflate or LZMA stream raised zlib.error / LZMAError out of extract (a 500).
@example(_compressed_cd(zipfile.ZIP_DEFLATED, range(60, 200, 7)))
@example(_compressed_cd(zipfile.ZIP_LZMA, range(60, 200, 7)))
@example(_compressed_cd(zipfile.ZIP_BZIP2, range(60, 200, 7)))
# "Version needed to extract" 25.5 in the central directory: NotImplementedError (a 500).
@example(_needs_version(255))
# A local header that says UTF-8 but is not: UnicodeDecodeError out of extract (a 500).
@example(_local_name_not_utf8())
# An entry whose name is empty: IndexError in ZipInfo.is_dir (a 500).
@example(_nameless())
def test_hostile_archives_are_read_or_refused(tmp_path: Path, data: bytes) -> None:
    _assert_read_or_refused(tmp_path, data)


@fuzz(default=100)
@given(st.binary(max_size=64).map(lambda tail: b"PK\x03\x04" + tail) | st.binary(max_size=300))
def test_garbage_is_refused(tmp_path: Path, data: bytes) -> None:
    _assert_read_or_refused(tmp_path, data)
