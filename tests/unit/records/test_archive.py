"""Zip safety: every check runs on the central directory before anything is extracted."""

import stat
import struct
import zipfile
from pathlib import Path

import pytest

from services.records.archive import ArchiveLimits, SafeArchive
from shared.errors import ApiError

LIMITS = ArchiveLimits(max_entries=50, max_total_bytes=4 * 1024 * 1024, max_ratio=100)


def write_zip(path: Path, entries: dict[str, bytes], *, symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return path


def refused(path: Path, limits: ArchiveLimits = LIMITS) -> ApiError:
    with pytest.raises(ApiError) as error:
        SafeArchive(path, limits)
    return error.value


def test_a_cd_with_nested_folders_opens_and_lists_only_files(tmp_path: Path) -> None:
    entries = {"CD/DICOMDIR": b"x", "CD/DICOM/PAT1/ST1/SE1/IM1": b"y" * 100, "CD/README.TXT": b"z"}
    archive = SafeArchive(write_zip(tmp_path / "cd.zip", entries), LIMITS)
    assert [i.filename for i in archive.files] == list(entries)
    archive.close()


@pytest.mark.parametrize(
    "name",
    [
        "../evil.dcm",
        "CD/../../evil.dcm",
        "/etc/cron.d/x",
        "\\windows\\x",
        "C:/x.dcm",
        "a/..\\..\\b",
    ],
)
def test_paths_that_leave_the_archive_are_unsafe(tmp_path: Path, name: str) -> None:
    error = refused(write_zip(tmp_path / "bad.zip", {"ok.dcm": b"1", name: b"2"}))
    assert (error.status, error.code, error.field) == (422, "unsafe_zip", "file")
    assert "entry 2" in error.message


def test_symbolic_links_are_unsafe(tmp_path: Path) -> None:
    error = refused(write_zip(tmp_path / "link.zip", {"a.dcm": b"1"}, symlink="CD/link"))
    assert (error.code, "symbolic link" in error.message) == ("unsafe_zip", True)


def test_encrypted_entries_are_unsafe(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "enc.zip", {"a.dcm": b"1"})
    data = bytearray(path.read_bytes())
    # Set the "encrypted" flag in the central directory record.
    central = data.index(b"PK\x01\x02")
    data[central + 8] |= 0x01
    path.write_bytes(bytes(data))
    assert refused(path).code == "unsafe_zip"


def test_a_high_compression_ratio_is_a_zip_bomb(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "bomb.zip", {"zeros.dcm": bytes(3 * 1024 * 1024)})
    error = refused(path)
    assert (error.status, error.code) == (422, "zip_bomb")


def test_too_much_in_total_is_a_zip_bomb(tmp_path: Path) -> None:
    limits = ArchiveLimits(max_entries=50, max_total_bytes=1000, max_ratio=100)
    error = refused(
        write_zip(tmp_path / "big.zip", {f"{i}.dcm": bytes(600) for i in range(2)}), limits
    )
    assert (error.status, error.code) == (413, "zip_bomb")


def test_too_many_entries_is_a_zip_bomb(tmp_path: Path) -> None:
    error = refused(write_zip(tmp_path / "many.zip", {f"{i}": b"" for i in range(51)}))
    assert error.code == "zip_bomb"


def test_overlapping_entries_are_a_zip_bomb(tmp_path: Path) -> None:
    """Two central directory records pointing at the same compressed data."""
    path = write_zip(tmp_path / "overlap.zip", {"a.dcm": b"A" * 1000, "b.dcm": b"B" * 1000})
    data = bytearray(path.read_bytes())
    first = data.index(b"PK\x01\x02")
    second = data.index(b"PK\x01\x02", first + 1)
    offset = struct.unpack_from("<I", data, first + 42)[0]
    struct.pack_into("<I", data, second + 42, offset)
    path.write_bytes(bytes(data))
    assert refused(path).code == "zip_bomb"


def test_an_entry_larger_than_declared_is_stopped_during_extraction(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "liar.zip", {"a.dcm": b"DICM" * 5000})
    data = bytearray(path.read_bytes())
    for signature, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.index(signature)
        struct.pack_into("<I", data, at + size_at, 100)  # declare 100 bytes uncompressed
    path.write_bytes(bytes(data))
    archive = SafeArchive(path, LIMITS)
    with pytest.raises(ApiError) as error:
        archive.extract(archive.files[0], tmp_path / "out", lambda _: True)
    assert error.value.code in ("zip_bomb", "bad_archive")
    archive.close()


def test_extraction_skips_unwanted_entries_and_hashes_the_rest(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "cd.zip", {"viewer.exe": b"MZ" * 10, "IM1": b"x" * 2000})
    archive = SafeArchive(path, LIMITS)
    skipped = archive.extract(archive.files[0], tmp_path / "1", lambda head: head[:1] == b"x")
    kept = archive.extract(archive.files[1], tmp_path / "2", lambda head: head[:1] == b"x")
    archive.close()
    assert skipped.skipped and not (tmp_path / "1").exists()
    assert (kept.size_bytes, (tmp_path / "2").read_bytes()) == (2000, b"x" * 2000)


def test_a_damaged_zip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "broken.zip"
    path.write_bytes(b"PK\x03\x04" + bytes(100))
    assert refused(path).code == "bad_archive"
