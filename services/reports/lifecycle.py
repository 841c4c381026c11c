"""How a report changes: consumed events, autosave, signing, amendments and follow-ups.

Pure functions from a record (and what happened) to the next record; they raise ReportError
when the change is not allowed. The handlers load, call one of these, and save.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.reports.domain import (
    Authors,
    CaseFacts,
    Conflict,
    DiagnosisReview,
    DocumentItem,
    Draft,
    FollowUp,
    FollowUpPolicy,
    Forbidden,
    IssuedVersion,
    Manifest,
    NotFound,
    Question,
    RecordLimitation,
    ReportError,
    ReportRecord,
    Sections,
    StudyItem,
    WaivedItem,
    language_of,
)
from shared.contracts import CaseSubmitted, ExpertAssigned, RecordsReady, ReportIssued
from shared.contracts.expert_assigned import ExpertRef
from shared.contracts.follow_up_updated import CloseReason, FollowUpChange, FollowUpUpdated
from shared.contracts.report_issued import ReportRendition, StoredObject

RECIPIENTS: list[Any] = ["guardian", "referring-physician"]
CANCELLED = "the case was cancelled or withdrawn; the report can no longer be changed"


# Consumed events.


def case_submitted(record: ReportRecord, case: CaseSubmitted, at: datetime) -> ReportRecord:
    patient = case.patient
    facts = CaseFacts(
        patient_name=f"{patient.given_name} {patient.family_name}",
        date_of_birth=patient.date_of_birth.isoformat(),
        sex=patient.sex,
        specialty=case.specialty,
        working_diagnosis=case.working_diagnosis,
        diagnosis_stage=case.diagnosis_stage,
        urgency=case.urgency,
        questions=[Question(question_id=f"q{n}", text=t) for n, t in enumerate(case.questions, 1)],
        language=case.guardian.preferred_language,
        physician_language=case.referring_physician.preferred_language,
        time_zone=case.guardian.time_zone,
        physician_time_zone=case.referring_physician.time_zone,
        referring_physician=case.referring_physician.name,
        referring_organization=case.referring_physician.organization,
        organization_id=case.organization_id,
        mrn=patient.mrn,
        mrn_system=patient.mrn_system,
        hospital_request_id=case.hospital_request_id,
        hospital_request_system=case.hospital_request_system,
        submitted_at=at,
    )
    record = record.model_copy(update={"facts": facts})
    return _prefill(record) if record.draft and record.draft.revision == 1 else record


def records_ready(record: ReportRecord, ready: RecordsReady) -> ReportRecord:
    manifest = Manifest(
        documents=[
            DocumentItem(document_id=d.document_id, kind=d.kind, filename=d.filename)
            for d in ready.documents
        ],
        studies=[
            StudyItem(
                study_instance_uid=s.study_instance_uid,
                modalities=list(s.modalities),
                description=s.description,
                study_date=s.study_date.isoformat() if s.study_date else None,
                series_count=s.series_count,
                instance_count=s.instance_count,
            )
            for s in ready.studies
        ],
        waived=[WaivedItem(item=w.item, reason=w.reason) for w in ready.completeness.waived],
    )
    record = record.model_copy(update={"manifest": manifest})
    return _prefill(record) if record.draft and record.draft.revision == 1 else record


def expert_assigned(record: ReportRecord, assigned: ExpertAssigned, at: datetime) -> ReportRecord:
    """The lead (and board) become the authors; the first assignment opens the draft."""
    authors = Authors(
        assignment_id=assigned.assignment_id,
        lead=assigned.lead,
        team=list(assigned.team),
        board_id=assigned.board_id,
        due_at=assigned.due_at,
    )
    record = record.model_copy(update={"authors": authors})
    if record.draft is None and not record.versions:
        record = _prefill(record.model_copy(update={"draft": Draft(saved_at=at)}))
    return record


def reassigned(record: ReportRecord, holder_id: str | None) -> ReportRecord:
    """Staff took the case from its expert: they no longer see it; the draft stays."""
    if record.authors is None or (holder_id and not record.is_lead(holder_id)):
        return record
    return record.model_copy(update={"authors": None})


def case_cancelled(
    record: ReportRecord, *, at: datetime, by_role: str
) -> tuple[ReportRecord, list[FollowUpUpdated]]:
    """The case was cancelled or withdrawn: the first cancellation is the one kept. It may
    come before case.submitted (topics are not ordered with each other), and still holds.
    A question still open is closed with it (`case-cancelled`), so nobody waits on it."""
    if record.cancelled_at is not None and record.cancelled_at <= at:
        return record, []
    after = record.model_copy(update={"cancelled_at": at, "cancelled_by_role": by_role})
    events = []
    for question in [f for f in after.follow_ups if f.is_open]:
        closed = question.model_copy(
            update={"closed_at": at, "closed_by_role": by_role, "close_reason": "case-cancelled"}
        )
        after = _with_follow_up(after, closed)
        if after.authors is not None:  # nobody to tell when the expert was taken off
            events.append(_follow_up_event(after, closed, "closed", at))
    return after, events


def _prefill(record: ReportRecord) -> ReportRecord:
    """An untouched first draft starts from what intake and records said."""
    assert record.draft is not None
    facts, manifest = record.facts, record.manifest
    diagnosis = DiagnosisReview()
    if facts is not None:
        stage = f" ({facts.diagnosis_stage})" if facts.diagnosis_stage else ""
        diagnosis = DiagnosisReview(original_diagnosis=f"{facts.working_diagnosis}{stage}")
    limitations = [
        RecordLimitation(item=w.item, problem="missing", how_it_limits=f"Not provided: {w.reason}")
        for w in (manifest.waived if manifest else [])
    ]
    sections = Sections(diagnosis=diagnosis, records_limitations=limitations)
    return record.model_copy(
        update={"draft": record.draft.model_copy(update={"sections": sections})}
    )


# Writing.


def require_author(record: ReportRecord, expert_id: str) -> None:
    if not record.is_author(expert_id):
        # Not assigned (any more): the case is not theirs to know about.
        raise NotFound("report_not_found", f"no report for case {record.case_id}", "case_id")


def require_not_cancelled(record: ReportRecord) -> None:
    if record.cancelled:
        raise Conflict("case_cancelled", CANCELLED)


def require_draft(record: ReportRecord) -> Draft:
    if record.draft is None:
        message = "the report is issued; open an amendment to change it"
        if not record.versions:
            message = "no draft yet: the case has no expert assigned"
        raise Conflict("not_a_draft", message)
    return record.draft


def check_revision(draft: Draft, expected: int | None) -> None:
    if expected is not None and expected != draft.revision:
        raise Conflict(
            "stale_revision",
            f"the draft is at revision {draft.revision}, you edited revision {expected}; "
            "reload it and apply your change again",
            "If-Match",
            current_revision=draft.revision,
        )


def save_draft(
    record: ReportRecord,
    *,
    expert_id: str,
    expected_revision: int,
    changes: Mapping[str, Any],
    change_summary: str | None,
    now: datetime,
) -> ReportRecord:
    """Autosave: the sections named in `changes` replace those of the draft it was read from."""
    require_author(record, expert_id)
    require_not_cancelled(record)
    draft = require_draft(record)
    check_revision(draft, expected_revision)
    sections = draft.sections.model_copy(update=dict(changes))
    known = {q.question_id for q in record.facts.questions} if record.facts else set()
    for question_id in sections.answers:
        if question_id not in known:
            field = f"answers.{question_id}"
            raise ReportError("unknown_question", f"{field}: the case has no such question", field)
    saved = Draft(
        revision=draft.revision + 1,
        sections=sections,
        change_summary=draft.change_summary if change_summary is None else change_summary,
        saved_at=now,
        saved_by=expert_id,
    )
    return record.model_copy(update={"draft": saved})


# Signing.


def unanswered_questions(record: ReportRecord, sections: Sections) -> list[Question]:
    questions = record.facts.questions if record.facts else []
    return [q for q in questions if not sections.answers.get(q.question_id, "").strip()]


def signing_problems(record: ReportRecord, draft: Draft) -> list[tuple[str, str]]:
    """(field, what is missing) for everything a signed report must have."""
    s = draft.sections
    problems: list[tuple[str, str]] = []
    if not s.summary.strip():
        problems.append(("summary", "the summary of the case as reviewed is empty"))
    if s.diagnosis.concordance is None:
        problems.append(
            ("diagnosis.concordance", "say whether the diagnosis is confirmed, refined or changed")
        )
    if not s.diagnosis.original_diagnosis.strip():
        problems.append(("diagnosis.original_diagnosis", "the original diagnosis is empty"))
    if s.diagnosis.concordance in ("refined", "changed") and not s.diagnosis.proposed_diagnosis:
        problems.append(
            (
                "diagnosis.proposed_diagnosis",
                "a refined or changed diagnosis needs the proposed diagnosis",
            )
        )
    if s.treatment.plan_change is None:
        problems.append(("treatment.plan_change", "say whether the plan changes"))
    if not s.treatment.recommendations.strip():
        problems.append(("treatment.recommendations", "the recommendations are empty"))
    for n, trial in enumerate(s.trials):
        if not trial.why_it_may_fit.strip():
            problems.append((f"trials.{n}.why_it_may_fit", f"say why {trial.nct_id} may fit"))
    if record.versions and not draft.change_summary.strip():
        problems.append(("change_summary", "an amendment must say what changed"))
    return problems


@dataclass(frozen=True)
class SignPlan:
    """What will be rendered and issued: decided before rendering, checked again at saving."""

    draft_revision: int
    version: int
    amends_version: int | None
    change_summary: str | None
    sections: Sections
    language: str
    signed_by: ExpertRef
    co_authors: list[ExpertRef]
    follow_ups: list[FollowUp]
    # Languages the version is also rendered in (the physician's, when not the family's).
    other_languages: tuple[str, ...] = ()


def plan_signing(
    record: ReportRecord,
    *,
    expert_id: str,
    expected_revision: int | None,
    languages: tuple[str, ...],
) -> SignPlan:
    require_author(record, expert_id)
    if not record.is_lead(expert_id):
        raise Forbidden("not_the_lead", "only the lead expert signs the report")
    require_not_cancelled(record)
    draft = require_draft(record)
    check_revision(draft, expected_revision)
    unanswered = unanswered_questions(record, draft.sections)
    if unanswered:
        names = ", ".join(f"{q.question_id} ({_quote(q.text)})" for q in unanswered)
        raise ReportError(
            "unanswered_questions",
            f"every question of the family needs an answer; unanswered: {names}",
            f"answers.{unanswered[0].question_id}",
            unanswered=[q.question_id for q in unanswered],
        )
    problems = signing_problems(record, draft)
    if problems:
        field, message = problems[0]
        raise ReportError(
            "incomplete_report",
            f"{field}: {message}",
            field,
            problems=[{"field": f, "message": m} for f, m in problems],
        )
    assert record.authors is not None and record.facts is not None
    latest = record.latest
    family = language_of(record.facts.language, languages)
    physician = (
        language_of(record.facts.physician_language, languages)
        if record.facts.physician_language
        else family
    )
    return SignPlan(
        other_languages=() if physician == family else (physician,),
        draft_revision=draft.revision,
        version=(latest.version + 1) if latest else 1,
        amends_version=latest.version if latest else None,
        change_summary=draft.change_summary.strip() or None if latest else None,
        sections=draft.sections,
        language=family,
        signed_by=record.authors.lead,
        co_authors=[m for m in record.authors.team if m.expert_id != expert_id],
        follow_ups=[f for f in record.follow_ups if f.answer],
    )


def issue(
    record: ReportRecord,
    plan: SignPlan,
    *,
    html: StoredObject,
    pdf: StoredObject,
    issued_at: datetime,
    renditions: tuple[ReportRendition, ...] = (),
) -> tuple[ReportRecord, ReportIssued]:
    """Freeze the planned version; refused if the draft moved on (or the case was cancelled)
    since the plan was made."""
    require_not_cancelled(record)
    draft = require_draft(record)
    check_revision(draft, plan.draft_revision)
    if len(record.versions) + 1 != plan.version:
        raise Conflict("already_signed", f"version {plan.version} was signed meanwhile")
    version = IssuedVersion(
        version=plan.version,
        amends_version=plan.amends_version,
        change_summary=plan.change_summary,
        sections=plan.sections,
        language=plan.language,
        signed_by=plan.signed_by,
        co_authors=plan.co_authors,
        issued_at=issued_at,
        html=html,
        pdf=pdf,
        follow_ups=plan.follow_ups,
        renditions=list(renditions),
    )
    after = record.model_copy(update={"draft": None, "versions": [*record.versions, version]})
    s = plan.sections
    assert s.diagnosis.concordance is not None and s.treatment.plan_change is not None
    event = ReportIssued(
        case_id=record.case_id,
        report_id=record.report_id,
        version=plan.version,
        amends_version=plan.amends_version,
        change_summary=plan.change_summary,
        concordance=s.diagnosis.concordance,
        treatment_change=s.treatment.plan_change,
        language=plan.language,
        html=html,
        pdf=pdf,
        recipients=RECIPIENTS,
        issued_at=issued_at,
        renditions=list(renditions),
    )
    return after, event


def open_amendment(record: ReportRecord, *, expert_id: str, now: datetime) -> ReportRecord:
    """A new draft from the latest issued version; signing it issues the next version."""
    require_author(record, expert_id)
    require_not_cancelled(record)
    latest = record.latest
    if latest is None:
        raise Conflict("not_issued", "there is no issued version to amend yet")
    if record.draft is not None:
        raise Conflict("amendment_open", "an amendment is already being written")
    draft = Draft(sections=latest.sections, saved_at=now, saved_by=expert_id)
    return record.model_copy(update={"draft": draft})


# Follow-up questions after the report.


def ask_follow_up(
    record: ReportRecord,
    *,
    follow_up_id: str,
    role: str,
    question: str,
    now: datetime,
    policy: FollowUpPolicy,
) -> tuple[ReportRecord, FollowUpUpdated]:
    """A family's or physician's question, within the program's number and window."""
    if not record.versions:
        raise NotFound("report_not_found", f"no issued report for case {record.case_id}")
    require_not_cancelled(record)
    closes = record.versions[0].issued_at + timedelta(days=policy.window_days)
    if now > closes:
        raise Conflict(
            "follow_up_window_closed",
            f"questions are answered for {policy.window_days} days after the report, until "
            f"{closes:%Y-%m-%d}; ask the intake team",
        )
    if len(record.follow_ups) >= policy.per_case:
        raise Conflict(
            "follow_up_limit",
            f"this program answers {policy.per_case} follow-up questions per case; ask the "
            "intake team",
        )
    asked = FollowUp(follow_up_id=follow_up_id, asked_by_role=role, question=question, asked_at=now)
    after = record.model_copy(update={"follow_ups": [*record.follow_ups, asked]})
    return after, _follow_up_event(after, asked, "asked", now)


def answer_follow_up(
    record: ReportRecord, *, expert_id: str, follow_up_id: str, answer: str, now: datetime
) -> tuple[ReportRecord, FollowUpUpdated]:
    require_author(record, expert_id)
    # The case is closed: a question left open stays unanswered.
    require_not_cancelled(record)
    found = _open_follow_up(record, follow_up_id)
    answered = found.model_copy(
        update={"answer": answer, "answered_by": expert_id, "answered_at": now}
    )
    after = _with_follow_up(record, answered)
    return after, _follow_up_event(after, answered, "answered", now)


def close_follow_up(
    record: ReportRecord, *, follow_up_id: str, by_role: str, reason: CloseReason, now: datetime
) -> tuple[ReportRecord, FollowUpUpdated]:
    """An author or the intake team closes a question without a written answer."""
    found = _open_follow_up(record, follow_up_id)
    closed = found.model_copy(
        update={"closed_at": now, "closed_by_role": by_role, "close_reason": reason}
    )
    after = _with_follow_up(record, closed)
    return after, _follow_up_event(after, closed, "closed", now)


def _open_follow_up(record: ReportRecord, follow_up_id: str) -> FollowUp:
    found = next((f for f in record.follow_ups if f.follow_up_id == follow_up_id), None)
    if found is None:
        raise NotFound("follow_up_not_found", f"no follow-up {follow_up_id}", "follow_up_id")
    if not found.is_open:
        state = "answered" if found.answer is not None else "closed"
        raise Conflict(f"follow_up_{state}", f"follow-up {follow_up_id} is already {state}")
    return found


def _with_follow_up(record: ReportRecord, changed: FollowUp) -> ReportRecord:
    follow_ups = [
        changed if f.follow_up_id == changed.follow_up_id else f for f in record.follow_ups
    ]
    return record.model_copy(update={"follow_ups": follow_ups})


def _follow_up_event(
    record: ReportRecord, follow_up: FollowUp, change: FollowUpChange, now: datetime
) -> FollowUpUpdated:
    assert record.authors is not None  # a report was issued, so it has authors
    asked_by: Any = follow_up.asked_by_role
    return FollowUpUpdated(
        case_id=record.case_id,
        report_id=record.report_id,
        follow_up_id=follow_up.follow_up_id,
        change=change,
        asked_by_role=asked_by,
        at=now,
        expert_ids=list(record.authors.expert_ids()),
        open_questions=sum(1 for f in record.follow_ups if f.is_open),
        close_reason=follow_up.close_reason,
    )


def _quote(text: str, limit: int = 60) -> str:
    short = text if len(text) <= limit else text[: limit - 1] + "…"
    return f'"{short}"'
