"""Realistic DICOM studies built from pydicom's bundled sample files (no downloads).

A CT series of 512x512 16-bit slices (pydicom-data's `693_UNCI.dcm`, ~514 KiB each) and a small
MR series (`MR_small.dcm`), every instance with its own UIDs, position and number, as a PACS
would send them. Slices differ only in their header: the stores under test never look at pixels.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydicom import Dataset, dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

CT_TEMPLATE = "693_UNCI.dcm"
MR_TEMPLATE = "MR_small.dcm"
# The patient of tests.support.sample_case, so the identity check matches.
PATIENT = {
    "PatientName": "QUINTEROFAKE^AMELIA",
    "PatientBirthDate": "20160409",
    "PatientID": "MRN771234",
}


@dataclass(frozen=True)
class StudyShape:
    ct_slices: int
    mr_images: int


def _template(name: str) -> Dataset:
    path = get_testdata_file(name)
    if path is None:
        raise RuntimeError(f"pydicom sample {name} is missing: is pydicom-data installed?")
    return dcmread(path)


def _instances(template: Dataset, count: int, study: str, series_number: int) -> Iterator[bytes]:
    series = generate_uid()
    template.StudyInstanceUID, template.SeriesInstanceUID = study, series
    template.SeriesNumber = series_number
    for key, value in PATIENT.items():
        setattr(template, key, value)
    position = list(template.get("ImagePositionPatient", [0.0, 0.0, 0.0]))
    for number in range(1, count + 1):
        template.SOPInstanceUID = generate_uid()
        template.file_meta.MediaStorageSOPInstanceUID = template.SOPInstanceUID
        template.InstanceNumber = number
        template.ImagePositionPatient = [position[0], position[1], float(position[2]) + number]
        template.SliceLocation = float(position[2]) + number
        buffer = io.BytesIO()
        template.save_as(buffer, enforce_file_format=True)
        yield buffer.getvalue()


def iter_study(shape: StudyShape) -> Iterator[bytes]:
    """Part 10 files of one new study (new UIDs on every call): the CT, then the MR series."""
    study = generate_uid()
    yield from _instances(_template(CT_TEMPLATE), shape.ct_slices, study, 1)
    yield from _instances(_template(MR_TEMPLATE), shape.mr_images, study, 2)


def build_study(shape: StudyShape) -> list[bytes]:
    return list(iter_study(shape))


def write_cd_zip(path: Path, target_bytes: int) -> tuple[int, int]:
    """A patient CD as a stored (uncompressed) zip of CT studies of about `target_bytes`,
    written instance by instance; returns (instances, zip size)."""
    count = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        archive.writestr("README.TXT", b"Patient CD. Open VIEWER/viewer.exe to view.\r\n")
        while path.stat().st_size < target_bytes:
            # Studies of 300 slices, as on a real CD with several examinations.
            for data in iter_study(StudyShape(ct_slices=300, mr_images=0)):
                count += 1
                archive.writestr(f"DICOM/S{count // 300:04d}/I{count:06d}", data)
                if path.stat().st_size >= target_bytes:
                    break
    return count, path.stat().st_size
