"""What the API accepts and answers: requests validated at the edge, views built from a record."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.reports.domain import (
    DiagnosisReview,
    FollowUp,
    IssuedVersion,
    RecordLimitation,
    ReportRecord,
    Sections,
    SectionText,
    Status,
    TreatmentReview,
    TrialOption,
    WaivedItem,
)
from shared.contracts.common import LongText
from shared.contracts.expert_assigned import ExpertRef
from shared.contracts.follow_up_updated import CloseReason
from shared.contracts.report_issued import StoredObject

SECTION_FIELDS = tuple(Sections.model_fields)
# Beside `status`, not in it: an issued report stays "issued" for its readers when the case is
# cancelled afterwards, and a client that knows the statuses meets no new one.
CANCELLED = (
    "True once the case was cancelled by the intake team or withdrawn by the family: the report "
    "takes no more drafts, signatures, amendments or follow-ups (409 case_cancelled); what was "
    "issued stays readable."
)
CANCELLED_AT = "When the case was cancelled or withdrawn; null while it is not."


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DraftUpdate(_Request):
    """Autosave: only the sections sent change. `diagnosis` and `treatment` merge field by
    field (a field left out keeps its value; null clears `concordance` or `plan_change`),
    `answers` merge by question id, and the lists (`trials`, `records_limitations`,
    `follow_up`) and `summary` are replaced whole."""

    revision: int | None = Field(
        default=None, ge=1, description="The draft revision edited; or send If-Match."
    )
    summary: SectionText | None = None
    diagnosis: DiagnosisReview | None = Field(
        default=None, description="Only the fields sent change; null clears `concordance`."
    )
    treatment: TreatmentReview | None = Field(
        default=None, description="Only the fields sent change; null clears `plan_change`."
    )
    trials: list[TrialOption] | None = Field(default=None, max_length=30)
    answers: dict[str, SectionText] | None = None
    records_limitations: list[RecordLimitation] | None = Field(default=None, max_length=50)
    follow_up: list[SectionText] | None = Field(default=None, max_length=30)
    change_summary: SectionText | None = None

    def section_changes(self, current: Sections) -> dict[str, Any]:
        changes = {
            name: getattr(self, name)
            for name in SECTION_FIELDS
            if name in self.model_fields_set and getattr(self, name) is not None
        }
        for name, sent in changes.items():
            if isinstance(sent, BaseModel):
                kept = getattr(current, name)
                changes[name] = kept.model_copy(
                    update={field: getattr(sent, field) for field in sent.model_fields_set}
                )
        if "answers" in changes:
            changes["answers"] = {**current.answers, **changes["answers"]}
        return changes


class SignRequest(_Request):
    revision: int | None = Field(default=None, ge=1, description="The draft revision reviewed.")


class FollowUpRequest(_Request):
    question: LongText


class AnswerRequest(_Request):
    answer: LongText


class CloseFollowUpRequest(_Request):
    reason: CloseReason = Field(
        description="Why no written answer follows: answered-elsewhere (by telephone, in a "
        "consult), out-of-scope (beyond the opinion), case-cancelled."
    )


class QuestionView(BaseModel):
    question_id: str
    text: str
    answered: bool


class DocumentLink(BaseModel):
    document_id: str
    kind: str
    filename: str
    url: str


class StudyLink(BaseModel):
    study_instance_uid: str
    modalities: list[str]
    description: str | None
    study_date: str | None
    series_count: int
    instance_count: int
    dicomweb_url: str


class CaseContext(BaseModel):
    """What the expert reviews: the case as intake and records described it."""

    patient_name: str
    date_of_birth: str
    specialty: str
    working_diagnosis: str
    diagnosis_stage: str | None
    urgency: str
    language: str
    referring_physician: str
    referring_organization: str
    questions: list[QuestionView]
    documents: list[DocumentLink]
    studies: list[StudyLink]
    waived: list[WaivedItem]


class VersionView(BaseModel):
    version: int
    amends_version: int | None
    change_summary: str | None
    language: str
    issued_at: datetime
    signed_by: ExpertRef
    concordance: str | None
    treatment_change: str | None
    html: StoredObject
    pdf: StoredObject
    html_url: str
    pdf_url: str

    @classmethod
    def of(cls, case_id: str, v: IssuedVersion) -> VersionView:
        base = f"/cases/{case_id}/report/versions/{v.version}"
        return cls(
            version=v.version,
            amends_version=v.amends_version,
            change_summary=v.change_summary,
            language=v.language,
            issued_at=v.issued_at,
            signed_by=v.signed_by,
            concordance=v.sections.diagnosis.concordance,
            treatment_change=v.sections.treatment.plan_change,
            html=v.html,
            pdf=v.pdf,
            html_url=f"{base}/report.html",
            pdf_url=f"{base}/report.pdf",
        )


class ReportView(BaseModel):
    """The report as a reader sees it: its issued versions and the follow-up questions."""

    case_id: str
    report_id: str
    status: Status
    cancelled: bool = Field(description=CANCELLED)
    cancelled_at: datetime | None = Field(description=CANCELLED_AT)
    versions: list[VersionView]
    follow_ups: list[FollowUp]

    @classmethod
    def of(cls, record: ReportRecord) -> ReportView:
        return cls(
            case_id=record.case_id,
            report_id=record.report_id,
            status=record.status,
            cancelled=record.cancelled,
            cancelled_at=record.cancelled_at,
            versions=[VersionView.of(record.case_id, v) for v in record.versions],
            follow_ups=record.follow_ups,
        )


class DraftView(BaseModel):
    """The draft with everything its authors need beside it."""

    case_id: str
    report_id: str
    status: Status
    cancelled: bool = Field(description=CANCELLED)
    cancelled_at: datetime | None = Field(description=CANCELLED_AT)
    kind: Literal["report", "amendment"]
    revision: int
    saved_at: datetime
    sections: Sections
    change_summary: str
    unanswered: list[str]
    lead: ExpertRef | None
    team: list[ExpertRef]
    due_at: datetime | None
    case: CaseContext
    versions: list[VersionView]
    follow_ups: list[FollowUp]

    @classmethod
    def of(cls, record: ReportRecord, records_base_url: str) -> DraftView:
        draft, facts, authors = record.draft, record.facts, record.authors
        assert draft is not None and facts is not None
        answers = draft.sections.answers
        base = records_base_url.rstrip("/")
        manifest = record.manifest
        context = CaseContext(
            patient_name=facts.patient_name,
            date_of_birth=facts.date_of_birth,
            specialty=facts.specialty,
            working_diagnosis=facts.working_diagnosis,
            diagnosis_stage=facts.diagnosis_stage,
            urgency=facts.urgency,
            language=facts.language,
            referring_physician=facts.referring_physician,
            referring_organization=facts.referring_organization,
            questions=[
                QuestionView(
                    question_id=q.question_id,
                    text=q.text,
                    answered=bool(answers.get(q.question_id, "").strip()),
                )
                for q in facts.questions
            ],
            documents=[
                DocumentLink(
                    **d.model_dump(), url=f"{base}/cases/{record.case_id}/documents/{d.document_id}"
                )
                for d in (manifest.documents if manifest else [])
            ],
            studies=[
                StudyLink(
                    **s.model_dump(), dicomweb_url=f"{base}/dicomweb/studies/{s.study_instance_uid}"
                )
                for s in (manifest.studies if manifest else [])
            ],
            waived=list(manifest.waived) if manifest else [],
        )
        return cls(
            case_id=record.case_id,
            report_id=record.report_id,
            status=record.status,
            cancelled=record.cancelled,
            cancelled_at=record.cancelled_at,
            kind="amendment" if record.versions else "report",
            revision=draft.revision,
            saved_at=draft.saved_at,
            sections=draft.sections,
            change_summary=draft.change_summary,
            unanswered=[q.question_id for q in context.questions if not q.answered],
            lead=authors.lead if authors else None,
            team=authors.team if authors else [],
            due_at=authors.due_at if authors else None,
            case=context,
            versions=[VersionView.of(record.case_id, v) for v in record.versions],
            follow_ups=record.follow_ups,
        )


class ReportSummary(BaseModel):
    """One line of a listing."""

    case_id: str
    report_id: str
    status: Status
    cancelled: bool = Field(description=CANCELLED)
    cancelled_at: datetime | None = Field(description=CANCELLED_AT)
    latest_version: int | None
    due_at: datetime | None
    lead_expert_id: str | None

    @classmethod
    def of(cls, record: ReportRecord) -> ReportSummary:
        return cls(
            case_id=record.case_id,
            report_id=record.report_id,
            status=record.status,
            cancelled=record.cancelled,
            cancelled_at=record.cancelled_at,
            latest_version=record.latest.version if record.latest else None,
            due_at=record.authors.due_at if record.authors else None,
            lead_expert_id=record.authors.lead.expert_id if record.authors else None,
        )
