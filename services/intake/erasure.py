"""Erasure of a case's personal data (issue 14): the family asks, the intake team approves or
refuses, and an approved (or retention-expired) case keeps only a PHI-free stub. No I/O.

What the stub keeps: the case id, status, specialty, urgency, country, dates, the consent text
cited (version, language, hash), the hospital's ids, and the history's actors and changes.
What it drops: every name, birth date, address, phone, MRN, free-text diagnosis, question,
note and reason, and where consent was signed from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.intake.consent_document import ConsentSignature
from services.intake.domain import (
    CaseRecord,
    DomainError,
    ErasureChange,
    ErasureRequest,
    HistoryEntry,
    RefusalReason,
)
from shared.contracts import CaseErased, CaseKey, CaseSubmitted, CaseUpdated
from shared.contracts.case_erased import ErasureReason
from shared.contracts.case_submitted import Guardian, Patient, ReferringPhysician
from shared.contracts.common import Actor

# What an erased text field reads; a placeholder, not personal data.
ERASED = "erased"
ERASED_EMAIL = "erased@erased.invalid"
ERASED_PHONE = "0000000"
# An erased case's birth date: it matches no age filter (the programme ends at 21).
ERASED_BIRTH_DATE = date(1900, 1, 1)
ERASED_CANCEL_REASON = "cancelled for erasure"
# Who erases a case whose retention period ran out.
SYSTEM = Actor(subject="system:retention", role="system")


@dataclass(frozen=True)
class Erasure:
    """The case after an erasure step, and the events it publishes (none, or a cancel of a
    case still in progress followed by `case.erased` and the destruction of the case's key)."""

    record: CaseRecord
    events: tuple[CaseUpdated | CaseErased | CaseKey, ...] = ()


def request_erasure(
    record: CaseRecord, *, actor: Actor, reason: ErasureReason, at: datetime
) -> Erasure:
    """The parent or guardian asks that the child's personal data be erased."""
    if actor.role != "guardian":
        raise DomainError("forbidden", "only the parent or guardian may ask for erasure")
    _require_not_erased(record)
    if record.erasure is not None and record.erasure.state == "requested":
        raise DomainError("erasure_pending", "an erasure request is already waiting")
    request = ErasureRequest(state="requested", reason=reason, requested_by=actor, requested_at=at)
    changed = _with_entry(record, "erasure-requested", actor=actor, at=at)
    return Erasure(changed.model_copy(update={"erasure": request}))


def refuse_erasure(
    record: CaseRecord, *, actor: Actor, refusal: RefusalReason, at: datetime
) -> Erasure:
    """The intake team refuses the waiting request (e.g. a legal hold), saying why by code."""
    request = _waiting(record)
    refused = request.model_copy(
        update={"state": "refused", "decided_by": actor, "decided_at": at, "refusal": refusal}
    )
    changed = _with_entry(record, "erasure-refused", actor=actor, at=at)
    return Erasure(changed.model_copy(update={"erasure": refused}))


def approve_erasure(record: CaseRecord, *, actor: Actor, at: datetime) -> Erasure:
    """The intake team approves the waiting request: the case is erased."""
    request = _waiting(record)
    return erase(record, actor=actor, reason=request.reason, at=at, requested=request)


def erase(
    record: CaseRecord,
    *,
    actor: Actor,
    reason: ErasureReason,
    at: datetime,
    requested: ErasureRequest | None = None,
) -> Erasure:
    """Erase the case: a case still in progress is cancelled first (every service stops), then
    the record keeps only its stub and `case.erased` tells every service to do the same."""
    _require_not_erased(record)
    events: list[CaseUpdated | CaseErased | CaseKey] = []
    if record.status != "cancelled":
        events.append(
            CaseUpdated(
                case_id=record.case_id,
                change="cancelled",
                status="cancelled",
                specialty=record.specialty,
                actor=actor,
                reason=ERASED_CANCEL_REASON,
            )
        )
        record = record.model_copy(update={"status": "cancelled"})
    decided = ErasureRequest(
        state="erased",
        reason=reason,
        requested_by=requested.requested_by if requested else None,
        requested_at=requested.requested_at if requested else at,
        decided_by=actor,
        decided_at=at,
    )
    erased = redact(_with_entry(record, "erased", actor=actor, at=at))
    events.append(CaseErased(case_id=record.case_id, erased_at=at, reason=reason, actor=actor))
    # Last: the case's key is destroyed (its tombstone on `case.keys`), so the case's events
    # kept on Kafka can no longer be read by anyone (crypto-shredding, shared/case_keys.py).
    events.append(CaseKey(case_id=record.case_id))
    return Erasure(erased.model_copy(update={"erasure": decided}), tuple(events))


def is_erased(record: CaseRecord) -> bool:
    return record.erasure is not None and record.erasure.state == "erased"


def retention_due(
    record: CaseRecord,
    *,
    closed_at: datetime | None,
    now: datetime,
    retention_days: int,
) -> bool:
    """Whether a closed case (cancelled, or its report issued, at `closed_at`) has outlived the
    program's retention period; 0 days means never erase on our own."""
    if retention_days <= 0 or closed_at is None or is_erased(record):
        return False
    return closed_at + timedelta(days=retention_days) <= now


def redact(record: CaseRecord) -> CaseRecord:
    """The record without personal data: placeholders where the contract needs a value."""
    submission = record.submission
    consent = submission.consent.model_copy(update={"given_by": ERASED})
    stub = CaseSubmitted(
        case_id=submission.case_id,
        patient=Patient(
            given_name=ERASED,
            family_name=ERASED,
            date_of_birth=ERASED_BIRTH_DATE,
            sex="unknown",
        ),
        guardian=Guardian(
            name=ERASED,
            relationship=ERASED,
            email=ERASED_EMAIL,
            phone=ERASED_PHONE,
            preferred_language=submission.guardian.preferred_language,
        ),
        referring_physician=ReferringPhysician(
            name=ERASED, organization=ERASED, email=ERASED_EMAIL, phone=ERASED_PHONE
        ),
        specialty=submission.specialty,
        working_diagnosis=ERASED,
        urgency=submission.urgency,
        questions=[ERASED],
        consent=consent,
        country=submission.country,
        submitted_via=submission.submitted_via,
        organization_id=submission.organization_id,
        hospital_request_id=submission.hospital_request_id,
        hospital_request_system=submission.hospital_request_system,
        service_type=submission.service_type,
        financial_clearance_required=submission.financial_clearance_required,
    )
    # The clearance keeps its state, method and estimate; who paid and the billing
    # office's words about it may name the family.
    clearance = (
        record.clearance.model_copy(update={"reference": None, "payer": None, "note": None})
        if record.clearance
        else None
    )
    return record.model_copy(
        update={
            "submission": stub,
            "notes": tuple(n.model_copy(update={"text": ERASED}) for n in record.notes),
            "history": tuple(h.model_copy(update={"reason": None}) for h in record.history),
            "consults": tuple(
                c.model_copy(update={"preferred_times": None}) for c in record.consults
            ),
            "consent_signature": _redacted_signature(record.consent_signature),
            "consent_withdrawn": (
                record.consent_withdrawn.model_copy(update={"ip": None})
                if record.consent_withdrawn
                else None
            ),
            "clearance": clearance,
        }
    )


def _redacted_signature(signed: ConsentSignature | None) -> ConsentSignature | None:
    if signed is None:
        return None
    withdrawn = signed.withdrawn.model_copy(update={"ip": None}) if signed.withdrawn else None
    return signed.model_copy(
        update={"signed_by": ERASED, "ip": None, "user_agent": None, "withdrawn": withdrawn}
    )


def _waiting(record: CaseRecord) -> ErasureRequest:
    _require_not_erased(record)
    if record.erasure is None or record.erasure.state != "requested":
        raise DomainError("no_erasure_request", "no erasure request is waiting for this case")
    return record.erasure


def _require_not_erased(record: CaseRecord) -> None:
    if is_erased(record):
        raise DomainError("already_erased", "the case's personal data was erased")


def _with_entry(
    record: CaseRecord, change: ErasureChange, *, actor: Actor, at: datetime
) -> CaseRecord:
    entry = HistoryEntry(
        change=change,
        status=record.status,
        specialty=record.specialty,
        actor=actor,
        reason=None,
        at=at,
    )
    return record.model_copy(update={"history": (*record.history, entry)})
