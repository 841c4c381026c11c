"""What the HTTP API accepts and returns (the `...Create` and `...Public` models)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.records import rules
from services.records.domain import (
    REQUESTS_KEPT,
    CaseRecord,
    DeidentifiedCopy,
    DocumentEntry,
    RecordsRequestEntry,
)
from services.records.imaging import IdentityStatus
from services.records.ingest import DicomReport
from shared.contracts.common import LongText, ShortText


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WaiverCreate(_Model):
    reason: ShortText


class RecordsRequestCreate(_Model):
    items: list[ShortText] = Field(min_length=1, max_length=len(rules.ITEMS))
    message: LongText | None = None


class DeidentifyCreate(_Model):
    retain_longitudinal_temporal_information: bool = False


class DocumentPublic(_Model):
    document_id: str
    kind: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_at: datetime
    duplicate: bool = False

    @classmethod
    def of(cls, entry: DocumentEntry, duplicate: bool = False) -> DocumentPublic:
        return cls(
            document_id=entry.document_id,
            kind=entry.kind,
            filename=entry.filename,
            content_type=entry.content_type,
            size_bytes=entry.size_bytes,
            sha256=entry.sha256,
            uploaded_at=entry.uploaded_at,
            duplicate=duplicate,
        )


class DicomUploadPublic(_Model):
    studies: list[str]
    instances_stored: int
    duplicates: int
    conflicts: list[str] = Field(
        description="SOP Instance UIDs already held with other bytes; the first copy is kept."
    )
    skipped_files: int = Field(description="Files in an archive that are not DICOM instances.")
    warnings: list[str]

    @classmethod
    def of(cls, report: DicomReport) -> DicomUploadPublic:
        return cls(
            studies=report.study_uids,
            instances_stored=len(report.stored),
            duplicates=len(report.duplicates),
            conflicts=[h.sop_instance_uid for h in report.conflicts],
            skipped_files=report.skipped_files,
            warnings=report.warnings,
        )


class IdentityCheckPublic(_Model):
    status: IdentityStatus
    findings: list[str] = Field(description="Attributes that disagree with the case (names only).")


class StudyPublic(_Model):
    study_instance_uid: str
    study_date: date | None
    description: str
    modalities: list[str]
    series_count: int
    instance_count: int
    size_bytes: int
    identity_check: IdentityCheckPublic


class ItemPublic(_Model):
    item: str
    label: str
    state: Literal["present", "missing", "waived", "optional"]
    waiver_reason: str | None = None


class RecordsRequestPublic(_Model):
    items: list[str]
    message: str | None
    requested_at: datetime
    requested_by_role: str

    @classmethod
    def of(cls, entry: RecordsRequestEntry) -> RecordsRequestPublic:
        return cls(
            items=list(entry.items),
            message=entry.message,
            requested_at=entry.requested_at,
            requested_by_role=entry.requested_by_role,
        )


class ChecklistPublic(_Model):
    case_id: str
    status: str
    specialty: str
    required: list[str]
    present: list[str]
    missing: list[str]
    waived: list[str]
    items: list[ItemPublic]
    documents: list[DocumentPublic]
    studies: list[StudyPublic]
    identity_check: IdentityCheckPublic
    records_ready: bool
    deidentified: list[CopyPublic]
    requests: list[RecordsRequestPublic] = Field(
        description="Staff requests for missing items, with their message; newest last, the"
        f" newest {REQUESTS_KEPT} only. The emails name no items: the case page shows them."
    )

    @classmethod
    def of(cls, case: CaseRecord) -> ChecklistPublic:
        checklist = case.checklist()
        status, findings = case.identity_check()
        return cls(
            case_id=case.case_id,
            status=case.status,
            specialty=case.specialty,
            required=checklist.required,
            present=checklist.present,
            missing=checklist.missing,
            waived=checklist.waived,
            items=[
                _item(case, name, checklist.present, checklist.required) for name in rules.ITEMS
            ],
            documents=[DocumentPublic.of(d) for d in case.documents],
            studies=[
                StudyPublic(
                    study_instance_uid=s.study_instance_uid,
                    study_date=s.study_date,
                    description=s.description,
                    modalities=s.modalities,
                    series_count=len(s.series),
                    instance_count=s.instance_count,
                    size_bytes=s.size_bytes,
                    identity_check=IdentityCheckPublic(
                        status=s.identity_status, findings=sorted(s.identity_mismatched)
                    ),
                )
                for s in case.studies.values()
            ],
            identity_check=IdentityCheckPublic(status=status, findings=findings),
            records_ready=case.ready_at is not None,
            deidentified=[CopyPublic.of(c) for c in case.deidentified],
            requests=[RecordsRequestPublic.of(r) for r in case.requests],
        )


def _item(case: CaseRecord, name: str, present: list[str], required: list[str]) -> ItemPublic:
    waiver = case.waivers.get(name)
    state: Literal["present", "missing", "waived", "optional"]
    if name in present:
        state = "present"
    elif waiver is not None and name in required:
        state = "waived"
    elif name in required:
        state = "missing"
    else:
        state = "optional"
    return ItemPublic(
        item=name,
        label=rules.ITEMS[name].label,
        state=state,
        waiver_reason=waiver.reason if waiver else None,
    )


class CopyPublic(_Model):
    study_instance_uid: str
    source_study_instance_uid: str
    retain_longitudinal_temporal_information: bool
    series_count: int
    instance_count: int
    size_bytes: int
    warnings: list[str]

    @classmethod
    def of(cls, copy: DeidentifiedCopy) -> CopyPublic:
        return cls(
            study_instance_uid=copy.study_instance_uid,
            source_study_instance_uid=copy.source_study_uid,
            retain_longitudinal_temporal_information=copy.retain_dates,
            series_count=copy.series_count,
            instance_count=copy.instance_count,
            size_bytes=copy.size_bytes,
            warnings=list(copy.warnings),
        )
