"""DICOM studies for the records tests, built from pydicom's bundled test files (no downloads):
new Study/Series/SOP UIDs and the case's patient, written as Part 10 files."""

from __future__ import annotations

import io
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.fileset import FileSet
from pydicom.uid import generate_uid

# The patient of tests.support.sample_case, as a DICOM system would write her.
CASE_PATIENT = {"name": "QUINTEROFAKE^AMELIA", "birth_date": "20160409", "patient_id": "MRN771234"}


@dataclass(frozen=True)
class Instance:
    path: str  # where it sits on the CD
    data: bytes
    study: str
    series: str
    sop: str
    sop_class: str


def build_study(
    series: tuple[tuple[str, int], ...] = (("CT_small.dcm", 3), ("MR_small.dcm", 2)),
    *,
    name: str = CASE_PATIENT["name"],
    birth_date: str = CASE_PATIENT["birth_date"],
    patient_id: str = CASE_PATIENT["patient_id"],
) -> list[Instance]:
    """One study with a series per (template, count), in nested CD-like folders."""
    study = generate_uid()
    instances = []
    for series_number, (template, count) in enumerate(series, start=1):
        series_uid = generate_uid()
        for number in range(1, count + 1):
            ds = dcmread(get_testdata_file(template))
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series_uid
            ds.SOPInstanceUID = generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.PatientName, ds.PatientBirthDate, ds.PatientID = name, birth_date, patient_id
            ds.SeriesNumber, ds.InstanceNumber = series_number, number
            buffer = io.BytesIO()
            ds.save_as(buffer)
            path = f"CD/DICOM/ST{study[-4:]}/SE{series_number:03d}/IM{number:04d}"
            instances.append(
                Instance(
                    path, buffer.getvalue(), study, series_uid, ds.SOPInstanceUID, ds.SOPClassUID
                )
            )
    return instances


def zip_of(
    instances: list[Instance], *, dicomdir: bool = False, extra: dict[str, bytes] | None = None
) -> bytes:
    """A zip of a patient CD; with `dicomdir`, laid out and indexed by pydicom's FileSet."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if dicomdir:
            with tempfile.TemporaryDirectory() as directory:
                fileset = FileSet()
                for instance in instances:
                    fileset.add(dcmread(io.BytesIO(instance.data)))
                fileset.write(directory)
                for path in sorted(Path(directory).rglob("*")):
                    if path.is_file():
                        archive.write(path, f"PATIENT_CD/{path.relative_to(directory)}")
        else:
            for instance in instances:
                archive.writestr(instance.path, instance.data)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def stow_body(parts: list[bytes], boundary: str = "stow-boundary-7") -> tuple[bytes, str]:
    body = b"".join(
        f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + part + b"\r\n"
        for part in parts
    )
    body += f"--{boundary}--\r\n".encode()
    return body, f'multipart/related; type="application/dicom"; boundary={boundary}'


def split_multipart(body: bytes, content_type: str) -> list[bytes]:
    """The payloads of a WADO-RS multipart/related response, byte for byte."""
    boundary = content_type.split("boundary=")[1].strip('"')
    delimiter = f"--{boundary}".encode()
    payloads = []
    for chunk in body.split(b"\r\n" + delimiter):
        if chunk.startswith(delimiter):
            chunk = chunk[len(delimiter) :]
        if chunk.startswith(b"--"):
            break
        _, _, payload = chunk.partition(b"\r\n\r\n")
        payloads.append(payload)
    return payloads
