"""De-identification on real files: pydicom's bundled CT and MR, and every readable file of
pydicom-data. Every attribute is checked against the action the profile gives it."""

from __future__ import annotations

import copy
import io
from pathlib import Path

import data_store
import pytest
from pydicom import DataElement, Dataset, FileDataset, dcmread
from pydicom.data import get_testdata_file
from pydicom.datadict import tag_for_keyword

from services.records.deidentify import (
    BASIC_PROFILE,
    FILE_META_REMOVED,
    TEMPORAL,
    Options,
    action_for,
    deidentify,
)
from services.records.dicom import MediaDirectory, NotDicom, read_header

BUNDLED = [Path(get_testdata_file("CT_small.dcm")), Path(get_testdata_file("MR_small.dcm"))]
DATA_STORE = sorted((Path(data_store.__file__).parent / "data").glob("*.dcm"))
OPTIONS = Options(salt="case-salt-1")
# Set by the profile itself, so they differ from the original on purpose.
SET_BY_PROFILE = {
    "PatientIdentityRemoved", "DeidentificationMethod", "DeidentificationMethodCodeSequence",
    "LongitudinalTemporalInformationModified",
}  # fmt: skip


def storable(paths: list[Path]) -> list[Path]:
    """The files the service would index (whole, with valid UIDs): only those get copied."""
    usable = []
    for path in paths:
        try:
            read_header(path)
        except (NotDicom, MediaDirectory):
            continue
        usable.append(path)
    return usable


SAMPLES = storable(BUNDLED + DATA_STORE)


def deidentified(path: Path, options: Options = OPTIONS) -> tuple[FileDataset, FileDataset, bytes]:
    original = dcmread(path)
    out = copy.deepcopy(original)
    deidentify(out, options)
    buffer = io.BytesIO()
    out.save_as(buffer)
    return original, dcmread(io.BytesIO(buffer.getvalue())), buffer.getvalue()


def test_the_table_names_only_real_attributes() -> None:
    for keyword in [*BASIC_PROFILE, *TEMPORAL, *FILE_META_REMOVED]:
        assert tag_for_keyword(keyword) is not None, keyword
    assert set(BASIC_PROFILE) >= TEMPORAL
    assert "PatientBirthDate" not in TEMPORAL


def test_the_samples_cover_many_files() -> None:
    assert len(SAMPLES) > 60


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
@pytest.mark.parametrize("retain_dates", [False, True], ids=["basic", "retain-dates"])
def test_every_attribute_gets_the_action_the_profile_gives_it(
    path: Path, retain_dates: bool
) -> None:
    options = Options(salt="case-salt-1", retain_dates=retain_dates)
    original, out, _ = deidentified(path, options)
    check_dataset(original, out, options)
    assert out.PatientIdentityRemoved == "YES"
    codes = [item.CodeValue for item in out.DeidentificationMethodCodeSequence]
    assert codes == (["113100", "113106"] if retain_dates else ["113100"])
    assert out.LongitudinalTemporalInformationModified == (
        "UNMODIFIED" if retain_dates else "REMOVED"
    )
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    assert not any(element.tag.is_private for element in out.iterall())
    assert not any(element.tag.element == 0 for element in out.iterall())


def check_dataset(original: Dataset, out: Dataset, options: Options) -> None:
    for element in original:
        if element.tag.is_private or element.keyword in SET_BY_PROFILE:
            continue
        if element.tag.element == 0 or element.tag.group & 0xFF00 in (0x5000, 0x6000):
            if element.tag.group & 0xFF00 == 0x6000 and element.tag.element not in (
                0,
                0x3000,
                0x4000,
            ):
                pass  # overlay geometry is kept
            else:
                assert element.tag not in out, element
                continue
        check_element(element, out, options)


def check_element(element: DataElement, out: Dataset, options: Options) -> None:
    action = action_for(element, options)
    name = element.keyword or str(element.tag)
    if action == "X":
        assert element.tag not in out, f"{name} should be removed"
        return
    assert element.tag in out, f"{name} should be present"
    value = out[element.tag].value
    if action == "Z":
        assert value in ("", [], None), f"{name} should be empty"
    elif action == "D":
        assert value in ("ANONYMOUS", options.pseudonym), f"{name} should be a dummy"
    elif action == "U":
        if element.value:
            expected = (
                [options.new_uid(str(v)) for v in element.value]
                if element.VM > 1
                else options.new_uid(str(element.value))
            )
            assert value == expected, f"{name} should be replaced consistently"
            assert value != element.value
    elif element.VR == "SQ":
        assert len(value) == len(element.value)
        for before, after in zip(element.value, value, strict=True):
            check_dataset(before, after, options)
    else:
        assert value == element.value, f"{name} should be kept"


def test_no_identifying_value_survives_anywhere_in_the_written_file() -> None:
    for path in SAMPLES:
        original, _, written = deidentified(path)
        elements = [e for e in original.iterall() if not e.tag.is_private and e.VR != "SQ"]
        # A removed value inside a kept one (InstitutionName "TOSHIBA" in Manufacturer
        # "TOSHIBA_MEC") is no leak.
        kept = " ".join(str(e.value) for e in elements if action_for(e, OPTIONS) == "K")
        for element in elements:
            text = str(element.value).strip()
            if element.VR not in ("PN", "LO", "SH", "DA", "ST", "LT") or text in kept:
                continue
            if action_for(element, OPTIONS) != "K" and len(text) >= 6:
                assert text.encode() not in written, f"{element.keyword} of {path.name} leaked"
        assert written[:128] == bytes(128)


def test_every_table_entry_was_met_in_real_files() -> None:
    """The subset is honest: much of it is exercised by the sample files."""
    met: set[str] = set()
    for path in SAMPLES:
        met |= {e.keyword for e in dcmread(path, stop_before_pixels=True).iterall()}
    met &= set(BASIC_PROFILE)
    assert len(met) >= 80, len(met)
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "InstitutionName",
                    "ReferringPhysicianName", "OperatorsName", "StudyDate", "AccessionNumber",
                    "StudyInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID",
                    "OtherPatientIDsSequence", "StudyDescription", "StationName"):  # fmt: skip
        assert keyword in met, keyword


def test_uids_map_consistently_across_instances_and_references() -> None:
    first = dcmread(BUNDLED[0])
    second = copy.deepcopy(first)
    second.SOPInstanceUID = first.SOPInstanceUID + ".2"
    reference = Dataset()
    reference.ReferencedSOPClassUID = first.SOPClassUID
    reference.ReferencedSOPInstanceUID = first.SOPInstanceUID
    second.ReferencedImageSequence = [reference]
    originals = (first.StudyInstanceUID, first.SeriesInstanceUID, first.SOPInstanceUID)
    deidentify(first, OPTIONS)
    deidentify(second, OPTIONS)
    assert (first.StudyInstanceUID, first.SeriesInstanceUID) == (
        second.StudyInstanceUID, second.SeriesInstanceUID
    )  # fmt: skip
    assert first.SOPInstanceUID != second.SOPInstanceUID
    assert second.ReferencedImageSequence[0].ReferencedSOPInstanceUID == first.SOPInstanceUID
    assert (
        second.ReferencedImageSequence[0].ReferencedSOPClassUID == reference.ReferencedSOPClassUID
    )
    assert not set(originals) & {first.StudyInstanceUID, first.SOPInstanceUID}
    other_case = Options(salt="case-salt-2").new_uid(originals[0])
    assert other_case != first.StudyInstanceUID  # copies of two cases cannot be linked


def test_the_option_keeps_dates_but_not_the_birth_date() -> None:
    original, out, _ = deidentified(BUNDLED[0], Options(salt="s", retain_dates=True))
    assert out.StudyDate == original.StudyDate == "20040119"
    assert out.PatientBirthDate == ""
    _, basic, _ = deidentified(BUNDLED[0])
    assert basic.StudyDate == ""
    assert "SeriesDate" not in basic


def test_the_copy_is_a_whole_file_and_burned_in_text_is_reported(tmp_path: Path) -> None:
    ds = dcmread(BUNDLED[1])
    ds.BurnedInAnnotation = "YES"
    warnings = deidentify(ds, OPTIONS)
    assert warnings == ["burned-in annotation declared: the pixel data was not cleaned"]
    ds.save_as(tmp_path / "copy.dcm")
    header = read_header(tmp_path / "copy.dcm")
    assert header.patient.name == "ANONYMOUS"
    assert header.patient.patient_id == OPTIONS.pseudonym
