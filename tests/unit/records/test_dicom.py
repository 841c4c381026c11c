"""Reading headers for the index, and refusing files that are not whole DICOM instances."""

import io
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.fileset import FileSet

from services.records.dicom import InvalidDicom, MediaDirectory, NotDicom, read_header

CT = Path(get_testdata_file("CT_small.dcm"))


def test_the_header_gives_the_index_entry_without_pixel_data() -> None:
    header = read_header(CT)
    assert header.sop_instance_uid == "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"
    assert header.study_instance_uid == "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
    assert (header.modality, header.study_date.isoformat() if header.study_date else None) == (
        "CT", "2004-01-19"
    )  # fmt: skip
    assert header.patient.name == "CompressedSamples^CT1"
    assert header.patient.other_ids == ("ABCD1234", "1234ABCD")


@pytest.mark.parametrize(
    "name", ["MR_small.dcm", "JPEG2000.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm",
             "MR_small_implicit.dcm", "rtplan.dcm", "reportsi.dcm", "SC_rgb_jpeg.dcm"],
)  # fmt: skip
def test_whole_files_in_every_encoding_are_read(name: str) -> None:
    assert read_header(Path(get_testdata_file(name))).sop_instance_uid


@pytest.mark.parametrize("name", ["CT_small.dcm", "JPEG2000.dcm", "MR_small_bigendian.dcm"])
def test_a_file_cut_short_anywhere_is_refused(tmp_path: Path, name: str) -> None:
    data = Path(get_testdata_file(name)).read_bytes()
    # Every cut but the last few bytes of trailing padding, in 97 places across the file.
    for cut in range(132, len(data) - 140, max(1, (len(data) - 272) // 97)):
        truncated = tmp_path / f"cut-{cut}.dcm"
        truncated.write_bytes(data[:cut])
        with pytest.raises(NotDicom):
            read_header(truncated)


def test_bundled_truncated_files_are_refused() -> None:
    for name in ("MR_truncated.dcm", "rtplan_truncated.dcm"):
        with pytest.raises(NotDicom):
            read_header(Path(get_testdata_file(name)))


def test_a_file_without_preamble_is_not_dicom(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_bytes(b"not an image" * 50)
    with pytest.raises(NotDicom, match="preamble"):
        read_header(text)


def test_a_dicomdir_is_recognised(tmp_path: Path) -> None:
    fileset = FileSet()
    fileset.add(dcmread(CT))
    fileset.write(tmp_path)
    with pytest.raises(MediaDirectory):
        read_header(tmp_path / "DICOMDIR")


def test_an_invalid_uid_is_refused(tmp_path: Path) -> None:
    ds = dcmread(CT)
    ds.SOPInstanceUID = "1.2.x3"
    bad = tmp_path / "bad.dcm"
    buffer = io.BytesIO()
    ds.save_as(buffer)
    bad.write_bytes(buffer.getvalue())
    with pytest.raises(NotDicom, match="SOPInstanceUID"):
        read_header(bad)


def _saved(tmp_path: Path, ds: object) -> Path:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=False)  # type: ignore[attr-defined]
    path = tmp_path / "edited.dcm"
    path.write_bytes(buffer.getvalue())
    return path


def _patched(tmp_path: Path, old: bytes, new: bytes, occurrence: int = 0) -> Path:
    """CT_small with the `occurrence`-th `old` replaced by `new` of the same length."""
    assert len(old) == len(new)
    data = CT.read_bytes()
    at = -1
    for _ in range(occurrence + 1):
        at = data.index(old, at + 1)
    path = tmp_path / "patched.dcm"
    path.write_bytes(data[:at] + new + data[at + len(old) :])
    return path


SOP = b"1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"


@pytest.mark.parametrize(
    ("occurrence", "new", "named"),
    [
        (0, SOP.replace(b".5962.", b".0962."), "MediaStorageSOPInstanceUID"),
        (1, SOP.replace(b".5962.", b".0962."), "SOPInstanceUID"),
        (0, SOP[:-1] + b"x", "MediaStorageSOPInstanceUID"),
        (0, SOP[:10] + b" " + SOP[11:], "MediaStorageSOPInstanceUID"),
    ],
    ids=["leading-zero-in-meta", "leading-zero", "letter-in-meta", "space-in-meta"],
)
def test_a_corrupted_uid_anywhere_in_the_header_is_refused(
    tmp_path: Path, occurrence: int, new: bytes, named: str
) -> None:
    with pytest.raises(InvalidDicom, match=f"its {named} is not a valid UID"):
        read_header(_patched(tmp_path, SOP, new, occurrence))


def test_the_file_meta_must_name_the_same_sop_class_as_the_data_set(tmp_path: Path) -> None:
    ds = dcmread(CT)
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"  # MR Image Storage
    with pytest.raises(InvalidDicom, match="MediaStorageSOPClassUID"):
        read_header(_saved(tmp_path, ds))
    # An anonymizer that rewrote the data set's SOP Instance UID and not the file meta's.
    ds = dcmread(CT)
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    assert read_header(_saved(tmp_path, ds)).sop_instance_uid == ds.SOPInstanceUID


def test_a_transfer_syntax_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    old = b"1.2.840.10008.1.2.1\x00"
    with pytest.raises(InvalidDicom, match="TransferSyntaxUID"):
        read_header(_patched(tmp_path, old, b"1.2.840.10008.1.2.9\x00"))


def test_an_invalid_uid_in_any_element_or_sequence_is_refused(tmp_path: Path) -> None:
    ds = dcmread(CT)
    ds.FrameOfReferenceUID = "1.2.abc"
    with pytest.raises(InvalidDicom, match="FrameOfReferenceUID"):
        read_header(_saved(tmp_path, ds))
    nested = dcmread(Path(get_testdata_file("rtplan.dcm")))
    item = nested.ReferencedStructureSetSequence[0]
    item.ReferencedSOPInstanceUID = "1.2.03"
    with pytest.raises(InvalidDicom, match="ReferencedSOPInstanceUID"):
        read_header(_saved(tmp_path, nested))


@pytest.mark.parametrize("vr", [b"SH", b"LO"])
def test_a_uid_written_with_another_vr_is_refused(tmp_path: Path, vr: bytes) -> None:
    tag = b"\x08\x00\x18\x00UI"  # SOPInstanceUID, explicit VR little endian
    with pytest.raises(InvalidDicom, match="SOPInstanceUID"):
        read_header(_patched(tmp_path, tag, tag[:4] + vr))


@pytest.mark.parametrize("vr", [b"\x01\x02", b"QQ", b"cs"])
def test_an_element_with_a_vr_that_does_not_exist_is_refused(tmp_path: Path, vr: bytes) -> None:
    tag = b"\x08\x00\x60\x00CS"  # Modality
    with pytest.raises(InvalidDicom, match="VR"):
        read_header(_patched(tmp_path, tag, tag[:4] + vr))


def test_a_binary_value_whose_length_does_not_fit_its_vr_is_refused(tmp_path: Path) -> None:
    rows = b"\x28\x00\x10\x00US\x02\x00\x80\x00\x28\x00\x11\x00"  # Rows, then Columns
    data = CT.read_bytes()
    at = data.index(rows)
    # Rows told as 3 bytes long, Columns' tag shifted by one: the whole file moves by one byte.
    edited = data[:at] + b"\x28\x00\x10\x00US\x03\x00\x80\x00\x00" + data[at + 10 :]
    path = tmp_path / "odd.dcm"
    path.write_bytes(edited)
    with pytest.raises(NotDicom):
        read_header(path)
