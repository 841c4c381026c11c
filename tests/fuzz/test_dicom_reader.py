"""Hostile DICOM files: mutations of real instances are either read or refused with NotDicom
(a 422 at the edge), never another exception; what is read can be de-identified."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from services.records import content_types
from services.records.copies import _deidentified_file
from services.records.deidentify import Options
from services.records.dicom import (
    MediaDirectory,
    NotDicom,
    has_preamble,
    quiet_pydicom,
    read_header,
)
from services.records.domain import DomainError
from services.records.imaging import InstanceHeader
from services.records.rules import Accepts
from shared.errors import ApiError
from tests.fuzz.budget import fuzz
from tests.fuzz.mutations import SAMPLES, mutated

# pydicom and zipfile warn about the damage they read past: expected here.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

HEADER_FOCUS = 2048  # most elements of these files sit in their first 2 KiB


@pytest.fixture(autouse=True, scope="module")
def _quiet() -> None:
    quiet_pydicom()


@st.composite
def mutated_dicom(draw: st.DrawFn) -> bytes:
    name = draw(st.sampled_from(sorted(SAMPLES)))
    return draw(mutated(SAMPLES[name], focus=HEADER_FOCUS))


def _edited(name: str, at: int, new: bytes, *, delete: int = 0) -> bytes:
    data = SAMPLES[name]
    return data[:at] + new + data[at + max(delete, len(new)) :]


# MediaStorageSOPClassUID with an unknown VR: decoding it raised NotImplementedError (a 500).
UNKNOWN_META_VR = _edited("CT_small.dcm", 162, b"TI")
# One byte gone from a deflated data set: the header read, the whole file did not (a 500 on
# de-identification).
DAMAGED_DEFLATE = _edited("image_dfl.dcm", 769, b"", delete=1)


def read_or_refuse(path: Path) -> InstanceHeader | None:
    """What ingest does with one file: skip it, refuse it (NotDicom) or index it."""
    try:
        return read_header(path)
    except (NotDicom, MediaDirectory):
        return None


@fuzz(default=300)
@given(mutated_dicom())
@example(UNKNOWN_META_VR)
def test_mutated_files_are_read_or_refused(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "instance.dcm"
    path.write_bytes(data)
    header = read_or_refuse(path)
    if header is not None:
        assert header.sop_instance_uid and header.study_instance_uid


@fuzz(default=60)
@given(mutated_dicom())
@example(DAMAGED_DEFLATE)
def test_what_was_read_can_be_deidentified_or_is_refused(tmp_path: Path, data: bytes) -> None:
    path, copy = tmp_path / "instance.dcm", tmp_path / "copy.dcm"
    path.write_bytes(data)
    if read_or_refuse(path) is None:
        return
    try:
        header, _, _, _ = _deidentified_file(path, copy, Options(salt="fuzz"))
    except DomainError:
        return
    assert header.patient.name in ("", "ANONYMOUS")


@fuzz(default=200)
@given(mutated_dicom(), st.sampled_from(["", "application/dicom", "application/zip", "text/plain"]))
def test_sniffing_mutated_heads_gives_a_type_or_a_4xx(data: bytes, declared: str) -> None:
    detected = content_types.sniff(data[:8192])
    assert has_preamble(data[:8192]) == (detected == content_types.DICOM)
    items: tuple[tuple[str, Accepts], ...] = (
        ("mri-imaging", "dicom"),
        ("pathology-report", "document"),
    )
    for kind, accepts in items:
        try:
            content_types.accepted_type(
                kind=kind, accepts=accepts, declared=declared, detected=detected
            )
        except ApiError as refused:
            assert 400 <= refused.status < 500
