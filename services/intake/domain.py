"""The intake rules for one case: what a submission must satisfy, and how staff change a case.
No I/O: handlers load a `CaseRecord`, call one function here, and save what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from services.intake.consent_document import ConsentSignature, ConsentWithdrawal
from services.intake.consults import Consult
from services.intake.errors import DomainError as DomainError
from services.intake.fees import Clearance
from shared.contracts import (
    AccessRevoked,
    CaseSubmitted,
    CaseUpdated,
    ConsultUpdated,
    FinancialClearanceUpdated,
)
from shared.contracts.access_revoked import RevocationReason
from shared.contracts.case_erased import ErasureReason
from shared.contracts.case_updated import CaseStatus
from shared.contracts.common import Actor, Specialty, Urgency

# Children's hospitals see patients up to their 21st birthday.
MAX_AGE_YEARS = 21
# A client clock a little ahead of ours is not an error.
CLOCK_SKEW = timedelta(minutes=5)

AgeBand = Literal["infant", "toddler", "child", "adolescent", "young-adult"]
# Inclusive age ranges in whole years.
AGE_BANDS: dict[AgeBand, tuple[int, int]] = {
    "infant": (0, 0),
    "toddler": (1, 3),
    "child": (4, 12),
    "adolescent": (13, 17),
    "young-adult": (18, MAX_AGE_YEARS),
}
NoteChannel = Literal["phone", "email", "video", "message", "other"]
Change = Literal["triaged", "note-added", "put-on-hold", "resumed", "cancelled"]
# Recorded in the history, published as `access.revoked` rather than `case.updated`.
LinksRevoked = Literal["links-revoked"]
# Recorded in the history when a case already cancelled has its consent withdrawn (publishes
# nothing: every service already stopped).
ConsentWithdrawn = Literal["consent-withdrawn"]
# The family's deletion request and its outcome (erasure.py); "erased" publishes `case.erased`.
ErasureChange = Literal["erasure-requested", "erasure-refused", "erased"]
WITHDRAWN_BY = {
    "guardian": "withdrawn by the family",
    "referring-physician": "withdrawn by the referring physician",
}
CONSENT_WITHDRAWN = "consent withdrawn by the family"
# Why the intake team refuses a deletion request (a code: the family is told which).
RefusalReason = Literal["legal-hold", "identity-not-confirmed", "duplicate-request", "other"]
# The family's own words follow "withdrawn by ...: " within case.updated's 4000 characters.
MAX_WITHDRAWAL_REASON = 4000 - 100


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Note(_Model):
    note_id: str
    text: str
    channel: NoteChannel
    author: Actor
    at: AwareDatetime


class ErasureRequest(_Model):
    """Who asked to erase the case's personal data, why (a code), and what became of it."""

    state: Literal["requested", "refused", "erased"]
    reason: ErasureReason
    requested_by: Actor | None
    requested_at: AwareDatetime
    decided_by: Actor | None = None
    decided_at: AwareDatetime | None = None
    refusal: RefusalReason | None = None


class HistoryEntry(_Model):
    change: Change | LinksRevoked | ConsentWithdrawn | ErasureChange
    status: CaseStatus
    specialty: Specialty
    actor: Actor
    reason: str | None
    at: AwareDatetime


class CaseRecord(_Model):
    """A case as intake keeps it: the submission as accepted, and what staff did since."""

    case_id: str
    version: int = 0
    submission: CaseSubmitted
    submitted_at: AwareDatetime
    source_event_id: str | None = None
    # The hospital system (organization, or event source) that sent it, if one did.
    sender: str | None = None
    status: CaseStatus = "open"
    specialty: Specialty
    notes: tuple[Note, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    # Case links issued (`iat`) before this second are revoked.
    links_not_before: AwareDatetime | None = None
    # Consults with the expert after the report (consults.py), oldest first.
    consults: tuple[Consult, ...] = ()
    # Which consent text was agreed to, by whom, when and from where (none before 2026-12).
    consent_signature: ConsentSignature | None = None
    consent_withdrawn: ConsentWithdrawal | None = None
    # The family's deletion request, then its outcome (erasure.py); None if never asked.
    erasure: ErasureRequest | None = None
    # In a program that requires it, the case waits on this before an expert sees it (fees.py).
    clearance: Clearance | None = None

    @classmethod
    def new(
        cls,
        submission: CaseSubmitted,
        *,
        at: datetime,
        source_event_id: str | None = None,
        sender: str | None = None,
        consent_signature: ConsentSignature | None = None,
        clearance: Clearance | None = None,
    ) -> CaseRecord:
        return cls(
            case_id=submission.case_id,
            submission=submission,
            submitted_at=at,
            source_event_id=source_event_id,
            sender=sender,
            specialty=submission.specialty,
            consent_signature=consent_signature,
            clearance=clearance,
        )

    @property
    def urgency(self) -> Urgency:
        return self.submission.urgency

    def age_years(self, today: date) -> int:
        return age_in_years(self.submission.patient.date_of_birth, today)


@dataclass(frozen=True)
class Transition:
    """The case after a change, and the event it publishes (`case.updated`, `access.revoked`,
    `consult.updated`, `financial_clearance.updated`), if any."""

    record: CaseRecord
    event: CaseUpdated | AccessRevoked | ConsultUpdated | FinancialClearanceUpdated | None


def age_in_years(born: date, today: date) -> int:
    before_birthday = (today.month, today.day) < (born.month, born.day)
    return today.year - born.year - int(before_birthday)


def check_submission(
    case: CaseSubmitted, *, now: datetime, consent_versions: frozenset[str]
) -> None:
    """Rules beyond the schema, the same for every way in (form, Kafka, FHIR); raises
    DomainError naming the field. The consent must cite a text version this service shows."""
    born = case.patient.date_of_birth
    today = now.date()
    if born > today:
        raise DomainError("date_in_future", "the date of birth is in the future", _DOB)
    if age_in_years(born, today) > MAX_AGE_YEARS:
        raise DomainError(
            "not_pediatric",
            f"the programme takes patients up to age {MAX_AGE_YEARS}",
            _DOB,
        )
    if case.consent.given_at > now + CLOCK_SKEW:
        raise DomainError("date_in_future", "consent cannot be given in the future", _CONSENT_AT)
    if case.consent.text_version not in consent_versions:
        raise DomainError(
            "unknown_consent_version",
            "the consent text version is not one this service shows",
            "consent.text_version",
        )


_DOB = "patient.date_of_birth"
_CONSENT_AT = "consent.given_at"


def triage(
    record: CaseRecord, specialty: Specialty, *, actor: Actor, reason: str | None, at: datetime
) -> Transition:
    """Give the case the specialty staff chose (typically for a "not sure" request)."""
    _require_not_cancelled(record)
    if specialty == "not-sure":
        raise DomainError("invalid_specialty", "triage must choose a specialty", "specialty")
    if specialty == record.specialty:
        raise DomainError("unchanged", "the case already has this specialty", "specialty")
    return _change(record, "triaged", actor=actor, reason=reason, at=at, specialty=specialty)


def add_note(
    record: CaseRecord,
    *,
    note_id: str,
    text: str,
    channel: NoteChannel,
    actor: Actor,
    at: datetime,
) -> Transition:
    """Record an outreach note. The event says a note was added, never what it says."""
    note = Note(note_id=note_id, text=text, channel=channel, author=actor, at=at)
    changed = record.model_copy(update={"notes": (*record.notes, note)})
    return _change(changed, "note-added", actor=actor, reason=f"outreach ({channel})", at=at)


def put_on_hold(record: CaseRecord, *, actor: Actor, reason: str, at: datetime) -> Transition:
    if record.status != "open":
        raise _not_now(record, "put on hold")
    return _change(record, "put-on-hold", actor=actor, reason=reason, at=at, status="on-hold")


def resume(record: CaseRecord, *, actor: Actor, reason: str | None, at: datetime) -> Transition:
    if record.status != "on-hold":
        raise _not_now(record, "resume")
    return _change(record, "resumed", actor=actor, reason=reason, at=at, status="open")


def cancel(record: CaseRecord, *, actor: Actor, reason: str, at: datetime) -> Transition:
    _require_not_cancelled(record)
    return _change(record, "cancelled", actor=actor, reason=reason, at=at, status="cancelled")


def withdraw(record: CaseRecord, *, actor: Actor, reason: str | None, at: datetime) -> Transition:
    """The family or the referring physician withdraws the request: a cancel by them, so every
    service follows it as it follows a staff cancel."""
    withdrawn_by = WITHDRAWN_BY.get(actor.role)
    if withdrawn_by is None:
        raise DomainError("forbidden", "only the family or the referring physician may withdraw")
    said = f"{withdrawn_by}: {reason}" if reason else withdrawn_by
    return cancel(record, actor=actor, reason=said, at=at)


def withdraw_consent(
    record: CaseRecord, *, actor: Actor, reason: str | None, at: datetime, ip: str | None
) -> Transition:
    """The parent or guardian who consented takes the consent back: processing stops as for a
    withdrawal (a cancel every service follows), and the record says when and from where. A
    case already cancelled only records it."""
    if actor.role != "guardian":
        raise DomainError(
            "forbidden", "only the parent or guardian who gave consent may withdraw it"
        )
    if record.consent_withdrawn is not None:
        raise DomainError("consent_already_withdrawn", "consent was already withdrawn")
    withdrawn = record.model_copy(
        update={"consent_withdrawn": ConsentWithdrawal(at=at, by_role=actor.role, ip=ip)}
    )
    said = f"{CONSENT_WITHDRAWN}: {reason}" if reason else CONSENT_WITHDRAWN
    if record.status != "cancelled":
        return cancel(withdrawn, actor=actor, reason=said, at=at)
    entry = HistoryEntry(
        change="consent-withdrawn",
        status=record.status,
        specialty=record.specialty,
        actor=actor,
        reason=said,
        at=at,
    )
    return Transition(withdrawn.model_copy(update={"history": (*record.history, entry)}), None)


def revoke_links(
    record: CaseRecord, *, actor: Actor, reason: RevocationReason, at: datetime
) -> Transition:
    """End every link to the case issued up to now, whatever its role or who holds it.

    Links count time in whole seconds (`iat`), so the cut-off is the next whole second: a link
    issued in this second, before the revocation, is refused too; one issued after it (by
    `issue_link`, which knows the cut-off) is dated from the cut-off.
    """
    not_before = at.replace(microsecond=0) + timedelta(seconds=1)
    entry = HistoryEntry(
        change="links-revoked",
        status=record.status,
        specialty=record.specialty,
        actor=actor,
        reason=reason,
        at=at,
    )
    changed = record.model_copy(
        update={"links_not_before": not_before, "history": (*record.history, entry)}
    )
    event = AccessRevoked(case_id=record.case_id, not_before=not_before, reason=reason, actor=actor)
    return Transition(changed, event)


def _require_not_cancelled(record: CaseRecord) -> None:
    if record.status == "cancelled":
        raise DomainError("case_closed", "the case is cancelled")


def _not_now(record: CaseRecord, what: str) -> DomainError:
    return DomainError("invalid_transition", f"a case that is {record.status} cannot {what}")


def _change(
    record: CaseRecord,
    change: Change,
    *,
    actor: Actor,
    reason: str | None,
    at: datetime,
    status: CaseStatus | None = None,
    specialty: Specialty | None = None,
) -> Transition:
    status = status or record.status
    specialty = specialty or record.specialty
    entry = HistoryEntry(
        change=change, status=status, specialty=specialty, actor=actor, reason=reason, at=at
    )
    changed = record.model_copy(
        update={"status": status, "specialty": specialty, "history": (*record.history, entry)}
    )
    event = CaseUpdated(
        case_id=record.case_id,
        change=change,
        status=status,
        specialty=specialty,
        actor=actor,
        reason=reason,
    )
    return Transition(changed, event)


@dataclass(frozen=True)
class CaseFilter:
    """What the intake team's list narrows by; `matches` is the rule, the store pre-filters."""

    statuses: tuple[CaseStatus, ...] = ()
    specialties: tuple[Specialty, ...] = ()
    urgencies: tuple[Urgency, ...] = ()
    min_age: int | None = None
    max_age: int | None = None

    @classmethod
    def of(
        cls,
        *,
        statuses: tuple[CaseStatus, ...] = (),
        specialties: tuple[Specialty, ...] = (),
        urgencies: tuple[Urgency, ...] = (),
        age_band: AgeBand | None = None,
        min_age: int | None = None,
        max_age: int | None = None,
    ) -> CaseFilter:
        if age_band is not None:
            low, high = AGE_BANDS[age_band]
            min_age = low if min_age is None else max(min_age, low)
            max_age = high if max_age is None else min(max_age, high)
        if min_age is not None and max_age is not None and min_age > max_age:
            raise DomainError("empty_age_range", "min_age is above max_age", "min_age")
        return cls(statuses, specialties, urgencies, min_age, max_age)

    def matches(self, record: CaseRecord, today: date) -> bool:
        age = record.age_years(today)
        return (
            (not self.statuses or record.status in self.statuses)
            and (not self.specialties or record.specialty in self.specialties)
            and (not self.urgencies or record.urgency in self.urgencies)
            and (self.min_age is None or age >= self.min_age)
            and (self.max_age is None or age <= self.max_age)
        )

    def birth_date_range(self, today: date) -> tuple[date | None, date | None]:
        """(born after, born on or before): the dates of birth the age limits allow."""
        latest = _years_before(today, self.min_age) if self.min_age is not None else None
        earliest = _years_before(today, self.max_age + 1) if self.max_age is not None else None
        return earliest, latest


def _years_before(today: date, years: int) -> date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)
