"""The records of one case: checklist, documents, imaging index, identity check. No I/O.

`CaseRecord` is the aggregate: handlers load it, call one method, and save it together with
the events `events_after_change` returns (one single-document write, see store.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from services.records import rules
from services.records.identity import CasePatient, compare_identity
from services.records.imaging import IdentityStatus, InstanceHeader, StudySummary
from shared.contracts import CaseSubmitted, RecordsReady, RecordsUpdated
from shared.contracts.common import Specialty
from shared.contracts.records_ready import (
    Completeness,
    Document,
    IdentityCheck,
    ImagingStudy,
)
from shared.contracts.records_ready import Waiver as WaiverPart
from shared.envelope import Payload
from shared.expert_access import ExpertStanding

CaseStatus = Literal["open", "on-hold", "cancelled"]
# The case is one document (each change is one single-document write), so its request history
# is bounded: the family needs the recent asks, and the full history is on records.requested.
REQUESTS_KEPT = 20


class DomainError(Exception):
    """A command the rules refuse; `code` is machine-readable, `message` names the field."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


@dataclass(frozen=True)
class DocumentEntry:
    document_id: str
    kind: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    object_key: str
    uploaded_by: str
    uploaded_at: datetime


@dataclass(frozen=True)
class Waiver:
    item: str
    reason: str
    waived_by: str
    waived_at: datetime


@dataclass(frozen=True)
class RecordsRequestEntry:
    """Staff asked the family or the physician for these items, with an optional message."""

    items: list[str]
    message: str | None
    requested_at: datetime
    requested_by_role: str


@dataclass(frozen=True)
class DeidentifiedCopy:
    """A de-identified copy of one study, made on a staff member's request."""

    source_study_uid: str
    study_instance_uid: str
    retain_dates: bool
    modalities: tuple[str, ...]
    study_date: date | None
    series_count: int
    instance_count: int
    size_bytes: int
    created_by: str
    created_at: datetime
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Checklist:
    required: list[str]
    present: list[str]
    missing: list[str]
    waived: list[str]


@dataclass
class CaseRecord:
    """Everything this service knows about one case. `patient` is None until it is submitted
    (a `case.updated` can arrive first: the topics are not ordered with each other)."""

    case_id: str
    specialty: Specialty = "not-sure"
    status: CaseStatus = "open"
    patient: CasePatient | None = None
    organization_id: str | None = None
    guardian_language: str = "en"
    documents: list[DocumentEntry] = field(default_factory=list)
    studies: dict[str, StudySummary] = field(default_factory=dict)
    waivers: dict[str, Waiver] = field(default_factory=dict)
    deidentified: list[DeidentifiedCopy] = field(default_factory=list)
    # Requests for missing records, newest last, at most REQUESTS_KEPT.
    requests: list[RecordsRequestEntry] = field(default_factory=list)
    # Committed uploads: an indexed instance is visible only once its upload is listed here,
    # which happens in the same write that counts it and announces it.
    uploads: list[str] = field(default_factory=list)
    # Secret per case from which de-identified UIDs are derived, so copies are consistent.
    uid_salt: str = ""
    triaged: bool = False
    # Experts offered or assigned the case (shared.expert_access): the only experts who see it.
    experts: dict[str, ExpertStanding] = field(default_factory=dict)
    ready_at: datetime | None = None
    revision: int = 0

    @property
    def submitted(self) -> bool:
        return self.patient is not None

    @property
    def accepts_uploads(self) -> bool:
        return self.status != "cancelled"

    def submit(self, payload: CaseSubmitted) -> None:
        p = payload.patient
        self.patient = CasePatient(p.given_name, p.family_name, p.date_of_birth, p.mrn)
        if not self.triaged:
            # A specialty set by an earlier-processed `case.updated` is newer than the form's.
            self.specialty = payload.specialty
        self.organization_id = payload.organization_id
        self.guardian_language = payload.guardian.preferred_language

    def update_status(self, status: CaseStatus, specialty: Specialty) -> bool:
        """Follow intake's status and triage; True when the checklist's inputs changed."""
        changed = specialty != self.specialty
        self.status, self.specialty, self.triaged = status, specialty, True
        return changed

    def ensure_open(self) -> None:
        if not self.accepts_uploads:
            raise DomainError("case_closed", f"case {self.case_id} is cancelled", "case_id")

    def add_document(self, entry: DocumentEntry) -> None:
        self.ensure_open()
        self.documents.append(entry)

    def document_with(self, sha256: str, kind: str) -> DocumentEntry | None:
        return next((d for d in self.documents if d.sha256 == sha256 and d.kind == kind), None)

    def add_instances(self, upload_id: str, instances: list[tuple[InstanceHeader, int]]) -> None:
        """Count one upload's newly stored instances and run the identity check on each."""
        self.ensure_open()
        self.uploads.append(upload_id)
        for header, size_bytes in instances:
            study = self.studies.get(header.study_instance_uid)
            if study is None:
                study = StudySummary(
                    header.study_instance_uid,
                    header.study_date,
                    header.study_description,
                    patient_name=header.patient.name[:324],
                    patient_id=header.patient.patient_id[:64],
                )
                self.studies[header.study_instance_uid] = study
            study.add(header, size_bytes)
            if self.patient is not None:
                result = compare_identity(self.patient, header.patient)
                study.identity_checked.update(result.checked)
                study.identity_mismatched.update(result.mismatched)

    def add_copy(self, upload_id: str, copy: DeidentifiedCopy) -> bool:
        """Record a de-identified copy whose instances are stored; False if already there."""
        if any(c.study_instance_uid == copy.study_instance_uid for c in self.deidentified):
            return False
        self.uploads.append(upload_id)
        self.deidentified.append(copy)
        return True

    def waive(self, item: str, reason: str, waived_by: str, at: datetime) -> bool:
        """Staff accept that an item will not come; False when it was already waived."""
        self.ensure_open()
        if item not in rules.ITEMS:
            raise DomainError("unknown_item", "item: not a checklist item", "item")
        checklist = self.checklist()
        if item not in checklist.required:
            raise DomainError("not_required", f"{item} is not required for this case", "item")
        if item in checklist.present:
            raise DomainError("already_present", f"{item} is already present", "item")
        if item in self.waivers:
            return False
        self.waivers[item] = Waiver(item, reason, waived_by, at)
        return True

    def add_request(self, entry: RecordsRequestEntry) -> None:
        """Keep a request for the case page; only the newest REQUESTS_KEPT stay."""
        self.ensure_open()
        self.requests = [*self.requests, entry][-REQUESTS_KEPT:]

    def checklist(self) -> Checklist:
        required = rules.required_items(self.specialty)
        have = set(rules.FROM_SUBMISSION) | {d.kind for d in self.documents}
        for study in self.studies.values():
            have.update(rules.item_of_modality(m) for m in study.modalities)
        present = [name for name in rules.ITEMS if name in have]
        waived = [name for name in required if name in self.waivers]
        missing = [name for name in required if name not in have and name not in self.waivers]
        return Checklist(required, present, missing, waived)

    def identity_check(self) -> tuple[IdentityStatus, list[str]]:
        mismatched = set().union(*(s.identity_mismatched for s in self.studies.values()))
        if mismatched:
            return "mismatch", sorted(mismatched)
        if any(s.identity_checked for s in self.studies.values()):
            return "match", []
        return "not-checked", []

    def events_after_change(self, now: datetime) -> list[Payload]:
        """`records.updated`, plus `records.ready` the first time nothing is missing.

        A mismatched identity does not hold `records.ready` back: the flag travels in the event
        and on the checklist, so the people who review the images see it first.
        """
        events: list[Payload] = [self.records_updated()]
        if not self.checklist().missing and self.ready_at is None:
            self.ready_at = now
            events.append(self.records_ready())
        return events

    def records_updated(self) -> RecordsUpdated:
        checklist = self.checklist()
        return RecordsUpdated(
            case_id=self.case_id,
            required=checklist.required,
            present=checklist.present,
            missing=checklist.missing,
            waived=checklist.waived,
            document_count=len(self.documents),
            study_count=len(self.studies),
            identity_check=self.identity_check()[0],
        )

    def records_ready(self) -> RecordsReady:
        checklist = self.checklist()
        status, findings = self.identity_check()
        return RecordsReady(
            case_id=self.case_id,
            documents=[
                Document(
                    document_id=d.document_id,
                    kind=d.kind,
                    filename=d.filename,
                    content_type=d.content_type,
                    size_bytes=d.size_bytes,
                    sha256=d.sha256,
                    object_key=d.object_key,
                )
                for d in self.documents
            ],
            studies=[
                ImagingStudy(
                    study_instance_uid=s.study_instance_uid,
                    modalities=s.modalities,
                    description=s.description or None,
                    study_date=s.study_date,
                    series_count=len(s.series),
                    instance_count=s.instance_count,
                    size_bytes=s.size_bytes,
                )
                for s in self.studies.values()
            ],
            completeness=Completeness(
                required=checklist.required,
                present=checklist.present,
                waived=[
                    WaiverPart(item=w.item, reason=w.reason, waived_by=w.waived_by)
                    for w in self.waivers.values()
                ],
            ),
            identity_check=IdentityCheck(status=status, findings=findings),
        )
