"""Reading headers for the index, and refusing files that are not whole DICOM instances."""

import io
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.fileset import FileSet

from services.records.dicom import MediaDirectory, NotDicom, read_header

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
