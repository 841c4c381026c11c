"""What the API accepts and answers: the request form, staff and family commands, and views
of a case."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.intake.consent_document import ConsentSignature, ConsentWithdrawal
from services.intake.consults import MAX_PREFERRED_TIMES, Consult
from services.intake.domain import (
    MAX_WITHDRAWAL_REASON,
    CaseRecord,
    HistoryEntry,
    Note,
    NoteChannel,
)
from services.intake.fees import DEFAULT_SERVICE, Clearance
from services.intake.progress import STAGES, Progress, Stage
from shared.contracts import CaseSubmitted
from shared.contracts.access_revoked import RevocationReason
from shared.contracts.case_submitted import Guardian, Patient, ReferringPhysician
from shared.contracts.case_updated import CaseStatus
from shared.contracts.common import (
    CountryCode,
    LanguageTag,
    LongText,
    Sha256Hex,
    ShortText,
    Specialty,
    Urgency,
)
from shared.contracts.consult_updated import (
    MAX_SLOTS,
    Attendees,
    ConsultCancelReason,
    ConsultKind,
    ConsultSlot,
    ExpertId,
    MeetingUrl,
    TimeZoneName,
)
from shared.contracts.financial_clearance_updated import (
    ClearanceMethod,
    ClearanceState,
    FeeEstimate,
    ServiceType,
)

LinkRole = Literal["guardian", "referring-physician"]
URGENT_NOTICE = (
    "A second opinion takes time and must not delay treatment your child needs now. "
    "Keep following your care team's plan, and seek emergency care if your child's condition "
    "gets worse."
)


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ConsentCreate(_Request):
    agreed: bool = Field(description="Must be true: no consent, no case.")
    given_by: ShortText = Field(description="Who consented (the parent or legal guardian).")
    text_version: ShortText = Field(description="The version of the consent text shown.")
    given_at: AwareDatetime | None = Field(
        default=None, description="When consent was given; the time of submission if omitted."
    )
    language: LanguageTag | None = Field(
        default=None,
        description="The language of the consent text shown (`GET /consent`); the guardian's "
        "preferred language if omitted.",
    )
    text_sha256: Sha256Hex | None = Field(
        default=None,
        description="The `sha256` of the consent text shown, as `GET /consent` gave it: the "
        "signature record keeps it, and a text that is not this version's is refused.",
    )


class CaseCreate(_Request):
    """The request form, sent by a parent or guardian or by the child's referring physician."""

    submitted_by: LinkRole
    patient: Patient
    guardian: Guardian
    referring_physician: ReferringPhysician
    specialty: Specialty = Field(description='"not-sure" lets the intake team decide.')
    working_diagnosis: LongText
    diagnosis_stage: ShortText | None = None
    urgency: Urgency
    questions: list[LongText] = Field(min_length=1, max_length=50)
    country: CountryCode = Field(description="ISO 3166-1 alpha-2; international requests too.")
    consent: ConsentCreate
    service_type: ServiceType = Field(
        default=DEFAULT_SERVICE, description="What is asked for (GET /fees/estimate prices it)."
    )


class TriageRequest(_Request):
    specialty: Specialty
    reason: LongText | None = None


class NoteCreate(_Request):
    text: LongText
    channel: NoteChannel = "phone"


class ReasonRequest(_Request):
    reason: LongText


class ResumeRequest(_Request):
    reason: LongText | None = None


class WithdrawRequest(_Request):
    reason: LongText | None = Field(
        default=None,
        max_length=MAX_WITHDRAWAL_REASON,
        description="Why, in the family's or physician's words (optional).",
    )


class ConsentText(BaseModel):
    """A consent text as the form shows it; sign it by sending its version, language and hash."""

    version: str
    language: str
    text: str
    sha256: Sha256Hex
    current: bool = Field(description="Whether new requests are asked to agree to this version.")
    languages: list[str] = Field(description="The languages this version is written in.")


class ClearanceRequest(_Request):
    """The intake team (or the hospital's billing system) clears the case for review. No card
    numbers: a reference that looks like one is refused."""

    method: ClearanceMethod
    reference: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9 ./_:-]*$",
        description="The billing office's or insurer's reference (required unless waived).",
    )
    payer: ShortText | None = Field(default=None, description="e.g. the insurer's name.")
    note: LongText | None = None


class FeeEstimateView(FeeEstimate):
    """An estimate before submission: no bill, no payment here."""

    note: str
    clearance_required: bool = Field(
        description="The program reviews fees with the family before an expert starts."
    )


class LinkRequest(_Request):
    role: LinkRole


class RevokeLinksRequest(_Request):
    reason: RevocationReason
    reissue: LinkRole | None = Field(
        default=None, description="Intake staff only: answer with a fresh link for this role."
    )


class Notice(BaseModel):
    code: str
    message: str


class CaseLink(BaseModel):
    """A bearer token for this case only: the status page here, uploads at records."""

    token: str
    role: LinkRole
    expires_at: AwareDatetime


class LinksRevoked(BaseModel):
    """Every link to the case issued before `not_before` is refused by every service."""

    case_id: str
    not_before: AwareDatetime
    link: CaseLink | None = None


class RecordsLinks(BaseModel):
    upload_url: str
    checklist_url: str


class SubmissionAccepted(BaseModel):
    case_id: str
    status_url: str
    link: CaseLink
    records: RecordsLinks
    warnings: list[Notice]
    replayed: bool = Field(description="True when an Idempotency-Key repeated an earlier request.")


class StageView(BaseModel):
    stage: Stage
    reached_at: AwareDatetime | None


class CaseStatusView(BaseModel):
    """What the family sees: where the case stands and what is still missing."""

    case_id: str
    status: CaseStatus
    stage: Stage
    stages: list[StageView]
    required: list[str]
    present: list[str]
    missing: list[str]
    report_version: int | None
    records: RecordsLinks
    warnings: list[Notice]
    consent_withdrawn_at: AwareDatetime | None = Field(
        default=None, description="When the guardian withdrew consent, if they did."
    )
    open_follow_ups: int = Field(
        default=0, description="Follow-up questions after the report still waiting for an answer."
    )
    # Financial clearance, when the program requires it: waiting (with the estimate) or done.
    financial_clearance: ClearanceState | None = None
    estimate: FeeEstimate | None = None

    @classmethod
    def of(cls, record: CaseRecord, progress: Progress, records: RecordsLinks) -> CaseStatusView:
        clearance = record.clearance
        return cls(
            financial_clearance=clearance.state if clearance else None,
            estimate=clearance.estimate if clearance else None,
            case_id=record.case_id,
            status=record.status,
            stage=progress.stage,
            stages=[StageView(stage=s, reached_at=progress.reached.get(s)) for s in STAGES],
            required=progress.required,
            present=progress.present,
            missing=progress.missing,
            report_version=progress.report_version,
            records=records,
            warnings=warnings_for(record.submission),
            consent_withdrawn_at=record.consent_withdrawn.at if record.consent_withdrawn else None,
            open_follow_ups=progress.open_follow_ups,
        )


class CaseSummary(BaseModel):
    """A case as the intake team's list shows it (the child's details are in the detail)."""

    case_id: str
    status: CaseStatus
    stage: Stage
    specialty: Specialty
    requested_specialty: Specialty
    urgency: Urgency
    age_years: int
    country: str
    submitted_via: str
    organization_id: str | None
    submitted_at: AwareDatetime

    @classmethod
    def of(cls, record: CaseRecord, today: date, progress: Progress) -> CaseSummary:
        submission = record.submission
        return cls(
            case_id=record.case_id,
            status=record.status,
            stage=progress.stage,
            specialty=record.specialty,
            requested_specialty=submission.specialty,
            urgency=submission.urgency,
            age_years=record.age_years(today),
            country=submission.country,
            submitted_via=submission.submitted_via,
            organization_id=submission.organization_id,
            submitted_at=record.submitted_at,
        )


class CaseDetail(CaseSummary):
    submission: CaseSubmitted
    notes: list[Note]
    history: list[HistoryEntry]
    progress: CaseStatusView
    consent_signature: ConsentSignature | None = Field(
        description="Who agreed to which exact consent text, when and from which address."
    )
    consent_withdrawn: ConsentWithdrawal | None
    clearance: Clearance | None = None

    @classmethod
    def full(
        cls, record: CaseRecord, progress: Progress, records: RecordsLinks, today: date
    ) -> CaseDetail:
        return cls(
            **CaseSummary.of(record, today, progress).model_dump(),
            submission=record.submission,
            notes=list(record.notes),
            history=list(record.history),
            progress=CaseStatusView.of(record, progress, records),
            consent_signature=record.consent_signature,
            consent_withdrawn=record.consent_withdrawn,
            clearance=record.clearance,
        )


def warnings_for(submission: CaseSubmitted) -> list[Notice]:
    if submission.urgency == "urgent":
        return [Notice(code="urgent_do_not_delay_treatment", message=URGENT_NOTICE)]
    return []


class ConsultCreate(_Request):
    """Ask for a consult with the expert about the report (the family's or physician's link)."""

    kind: ConsultKind = Field(description="A video discussion, or a visit in person.")
    attendees: Attendees = Field(description="Who will attend besides the expert.")
    preferred_times: str | None = Field(
        default=None, max_length=MAX_PREFERRED_TIMES, description="When suits you, in words."
    )
    interpreter_needed: bool = False
    interpreter_language: LanguageTag | None = None
    time_zone: TimeZoneName | None = Field(
        default=None,
        description="Your IANA time zone (e.g. America/Mexico_City): times are shown in it.",
    )


class ConsultProposal(_Request):
    """The intake team offers times with an expert; a video consult needs its meeting link."""

    slots: list[ConsultSlot] = Field(min_length=1, max_length=MAX_SLOTS)
    expert_id: ExpertId
    expert_time_zone: TimeZoneName | None = None
    meeting_url: MeetingUrl | None = Field(
        default=None, description="https:// only; the platform hosts no video."
    )


class ConsultConfirm(_Request):
    start: AwareDatetime = Field(description="The start of one of the times offered.")


class ConsultCancel(_Request):
    reason: ConsultCancelReason


class ConsultView(BaseModel):
    consult_id: str
    state: str
    kind: ConsultKind
    attendees: Attendees
    requested_by_role: str
    preferred_times: str | None
    interpreter_needed: bool
    interpreter_language: str | None
    requester_time_zone: str | None
    expert_id: str | None
    expert_time_zone: str | None
    slots: list[ConsultSlot]
    confirmed_slot: ConsultSlot | None
    meeting_url: str | None
    sequence: int
    cancel_reason: str | None
    requested_at: AwareDatetime
    updated_at: AwareDatetime

    @classmethod
    def of(cls, consult: Consult) -> ConsultView:
        return cls(
            **consult.model_dump(exclude={"requested_by", "slots", "state"}),
            state=consult.state,
            slots=list(consult.slots),
            requested_by_role=consult.requested_by.role,
        )
