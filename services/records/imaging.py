"""The imaging index of a case: studies, their series, and what each instance header says."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from services.records.identity import DicomPatient

IdentityStatus = Literal["match", "mismatch", "not-checked"]


@dataclass(frozen=True)
class InstanceHeader:
    """What the index needs from one DICOM instance's header (read without pixel data)."""

    sop_instance_uid: str
    sop_class_uid: str
    study_instance_uid: str
    series_instance_uid: str
    transfer_syntax_uid: str
    modality: str = ""
    body_part: str = ""
    study_date: date | None = None
    study_description: str = ""
    series_description: str = ""
    series_number: int | None = None
    instance_number: int | None = None
    patient: DicomPatient = field(default_factory=DicomPatient)


# STOW-RS Failure Reasons (PS3.4 Annex B.2.3, as PS3.18 10.5.3 uses them).
PROCESSING_FAILURE = 0x0110  # here: not stored because another instance of the request failed
DUPLICATE_SOP_INSTANCE = 0x0111  # a SOP instance with this UID is already held, other bytes
CANNOT_UNDERSTAND = 0xC000  # not a whole, valid DICOM instance


@dataclass(frozen=True)
class FailedInstance:
    """An instance of a STOW request that was not stored; UIDs are empty when unreadable."""

    sop_class_uid: str
    sop_instance_uid: str
    reason: int


@dataclass
class SeriesSummary:
    series_instance_uid: str
    modality: str
    body_part: str = ""
    description: str = ""
    number: int | None = None
    instance_count: int = 0
    size_bytes: int = 0


@dataclass
class StudySummary:
    study_instance_uid: str
    study_date: date | None = None
    description: str = ""
    series: dict[str, SeriesSummary] = field(default_factory=dict)
    identity_checked: set[str] = field(default_factory=set)
    identity_mismatched: set[str] = field(default_factory=set)
    # As the first instance stored names the patient (PN and LO as written), for QIDO-RS.
    patient_name: str = ""
    patient_id: str = ""

    @property
    def modalities(self) -> list[str]:
        return sorted({s.modality for s in self.series.values() if s.modality})

    @property
    def instance_count(self) -> int:
        return sum(s.instance_count for s in self.series.values())

    @property
    def identity_status(self) -> IdentityStatus:
        if self.identity_mismatched:
            return "mismatch"
        return "match" if self.identity_checked else "not-checked"

    @property
    def size_bytes(self) -> int:
        return sum(s.size_bytes for s in self.series.values())

    def add(self, header: InstanceHeader, size_bytes: int) -> None:
        series = self.series.get(header.series_instance_uid)
        if series is None:
            series = SeriesSummary(
                header.series_instance_uid,
                header.modality,
                header.body_part,
                header.series_description,
                header.series_number,
            )
            self.series[header.series_instance_uid] = series
        series.instance_count += 1
        series.size_bytes += size_bytes
