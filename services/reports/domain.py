"""The report of one case: what the consumers learned, the draft, its sections, the issued
versions and the family's follow-up questions. Pure rules, no I/O.

A case has one report. It waits until an expert is assigned, is a draft while the expert
writes, is issued when the lead signs, and goes back to a draft only through an amendment,
which is signed as the next version; issued versions are never changed. A case cancelled by
the intake team or withdrawn by the family stops its report where it stood: nothing more is
written, signed, amended or asked, and what was issued stays readable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from shared.contracts.common import Specialty, Urgency
from shared.contracts.expert_assigned import ExpertRef
from shared.contracts.follow_up_updated import CloseReason
from shared.contracts.report_issued import ReportRendition, StoredObject

Concordance = Literal["confirmed", "refined", "changed"]
PlanChange = Literal["none", "modified", "changed"]
Status = Literal["waiting", "draft", "issued", "amending"]
NCT_ID = re.compile(r"^NCT\d{8}$")
SectionText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20_000)]
Line = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class ReportError(Exception):
    """Why a command cannot be done; the API turns it into a 4xx with the same code."""

    status = 422

    def __init__(self, code: str, message: str, field: str | None = None, **extra: object):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.extra = extra


class NotFound(ReportError):
    status = 404


class Forbidden(ReportError):
    status = 403


class Conflict(ReportError):
    status = 409


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# What the consumers learned.


class Question(_Frozen):
    question_id: str
    text: str


class CaseFacts(_Frozen):
    """From case.submitted: what the report is about and whom it goes to."""

    patient_name: str
    date_of_birth: str
    sex: str
    specialty: Specialty
    working_diagnosis: str
    diagnosis_stage: str | None = None
    urgency: Urgency
    questions: list[Question]
    language: str
    # The physician's own language (None: they read the family's), and the zones dates are
    # written in (None: UTC).
    physician_language: str | None = None
    time_zone: str | None = None
    physician_time_zone: str | None = None
    referring_physician: str
    referring_organization: str
    organization_id: str | None = None
    # The hospital's identifiers, so its systems can match the report to their order.
    mrn: str | None = None
    mrn_system: str | None = None
    hospital_request_id: str | None = None
    hospital_request_system: str | None = None
    submitted_at: AwareDatetime


class DocumentItem(_Frozen):
    document_id: str
    kind: str
    filename: str


class StudyItem(_Frozen):
    study_instance_uid: str
    modalities: list[str]
    description: str | None = None
    study_date: str | None = None
    series_count: int
    instance_count: int


class WaivedItem(_Frozen):
    item: str
    reason: str


class Manifest(_Frozen):
    """From records.ready: what the expert had to review."""

    documents: list[DocumentItem] = Field(default_factory=list)
    studies: list[StudyItem] = Field(default_factory=list)
    # Objects, not pairs: FerretDB stores no arrays inside arrays.
    waived: list[WaivedItem] = Field(default_factory=list)


class Authors(_Frozen):
    """From expert.assigned: the lead (who signs) and the board's co-authors."""

    assignment_id: str
    lead: ExpertRef
    team: list[ExpertRef] = Field(default_factory=list)
    board_id: str | None = None
    due_at: AwareDatetime

    def expert_ids(self) -> list[str]:
        return list(dict.fromkeys([self.lead.expert_id, *(m.expert_id for m in self.team)]))


# The sections the expert writes.


class DiagnosisReview(_Frozen):
    concordance: Concordance | None = None
    original_diagnosis: SectionText = ""
    proposed_diagnosis: SectionText = ""
    discussion: SectionText = ""


class TreatmentReview(_Frozen):
    plan_change: PlanChange | None = None
    recommendations: SectionText = ""


class TrialOption(_Frozen):
    nct_id: str
    title: Line = ""
    why_it_may_fit: SectionText = ""

    @field_validator("nct_id", mode="before")
    @classmethod
    def _nct_format(cls, value: object) -> str:
        text = str(value).strip().upper() if isinstance(value, str) else ""
        if not NCT_ID.match(text):
            raise ValueError("a ClinicalTrials.gov identifier is NCT followed by 8 digits")
        return text


class RecordLimitation(_Frozen):
    item: Line
    problem: Literal["missing", "poor-quality"]
    how_it_limits: SectionText = ""


class Sections(_Frozen):
    summary: SectionText = ""
    diagnosis: DiagnosisReview = DiagnosisReview()
    treatment: TreatmentReview = TreatmentReview()
    trials: list[TrialOption] = Field(default_factory=list, max_length=30)
    answers: dict[str, SectionText] = Field(default_factory=dict)
    records_limitations: list[RecordLimitation] = Field(default_factory=list, max_length=50)
    follow_up: list[SectionText] = Field(default_factory=list, max_length=30)


class Draft(_Frozen):
    """The working copy; `revision` is what a writer's If-Match names."""

    revision: int = 1
    sections: Sections = Sections()
    change_summary: SectionText = ""
    saved_at: AwareDatetime
    saved_by: str | None = None


class FollowUp(_Frozen):
    """A question the family or the physician asked after the report, and its answer; or why
    it was closed without one (answered by telephone, out of the opinion's scope...)."""

    follow_up_id: str
    asked_by_role: str
    question: SectionText
    asked_at: AwareDatetime
    answer: SectionText | None = None
    answered_by: str | None = None
    answered_at: AwareDatetime | None = None
    closed_at: AwareDatetime | None = None
    closed_by_role: str | None = None
    close_reason: CloseReason | None = None

    @property
    def is_open(self) -> bool:
        return self.answer is None and self.closed_at is None


@dataclass(frozen=True)
class FollowUpPolicy:
    """The program's terms for questions after the report: how many, and for how long after
    the first version was issued."""

    per_case: int = 5
    window_days: int = 30


class IssuedVersion(_Frozen):
    version: int
    amends_version: int | None = None
    change_summary: str | None = None
    sections: Sections
    language: str
    signed_by: ExpertRef
    co_authors: list[ExpertRef] = Field(default_factory=list)
    issued_at: AwareDatetime
    html: StoredObject
    pdf: StoredObject
    follow_ups: list[FollowUp] = Field(default_factory=list)
    # The same version in the physician's language, when it is not the family's.
    renditions: list[ReportRendition] = Field(default_factory=list)

    def file_for(self, language: str | None) -> tuple[str, StoredObject, StoredObject]:
        """(language, html, pdf) of the rendition in `language`, else the family's."""
        for rendition in self.renditions:
            if rendition.language == language:
                return rendition.language, rendition.html, rendition.pdf
        return self.language, self.html, self.pdf


class ReportRecord(BaseModel):
    """The report of one case; every change writes it whole."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    case_id: str
    facts: CaseFacts | None = None
    manifest: Manifest | None = None
    authors: Authors | None = None
    draft: Draft | None = None
    versions: list[IssuedVersion] = Field(default_factory=list)
    follow_ups: list[FollowUp] = Field(default_factory=list)
    # From case.updated: when the case was cancelled, and the role of who did it (intake-staff,
    # admin; guardian or referring-physician for a withdrawal). Never the reason's free text.
    cancelled_at: AwareDatetime | None = None
    cancelled_by_role: str | None = None

    @property
    def cancelled(self) -> bool:
        return self.cancelled_at is not None

    @property
    def report_id(self) -> str:
        return report_id_of(self.case_id)

    @property
    def status(self) -> Status:
        if self.draft is None:
            return "issued" if self.versions else "waiting"
        return "amending" if self.versions else "draft"

    @property
    def latest(self) -> IssuedVersion | None:
        return self.versions[-1] if self.versions else None

    def version(self, number: int) -> IssuedVersion | None:
        return next((v for v in self.versions if v.version == number), None)

    def is_author(self, expert_id: str) -> bool:
        return self.authors is not None and expert_id in self.authors.expert_ids()

    def is_lead(self, expert_id: str) -> bool:
        return self.authors is not None and self.authors.lead.expert_id == expert_id


def report_id_of(case_id: str) -> str:
    return f"rpt-{case_id}"


def language_of(preferred: str, available: tuple[str, ...]) -> str:
    """The family's language if the fixed parts exist in it ("es-MX" → "es"), else English."""
    base = preferred.lower().split("-")[0]
    return base if base in available else "en"
