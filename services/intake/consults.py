"""Consults after the report: a video or in-person discussion with the expert. No I/O.

The family or the referring physician asks (requested); the intake team offers one to five
times with the expert, and for a video consult the meeting's link (proposed); the requester
picks one (confirmed); the team may offer new times (rescheduled: proposed again, the calendar
SEQUENCE raised) and either side may cancel with a reason code. Each step is one
`consult.updated`; the requester's own words (preferred times) stay here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict

from services.intake.errors import DomainError
from shared.contracts.common import Actor
from shared.contracts.consult_updated import (
    MAX_SLOTS,
    Attendees,
    ConsultCancelReason,
    ConsultChange,
    ConsultKind,
    ConsultSlot,
    ConsultUpdated,
)

if TYPE_CHECKING:
    from services.intake.domain import CaseRecord

ConsultState = Literal["requested", "proposed", "confirmed", "cancelled"]
RequesterRole = Literal["guardian", "referring-physician"]
MAX_PREFERRED_TIMES = 500


class Consult(BaseModel):
    """One consult as intake keeps it (inside the case's record)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    consult_id: str
    state: ConsultState
    kind: ConsultKind
    attendees: Attendees
    requested_by: Actor
    preferred_times: str | None = None
    interpreter_needed: bool = False
    interpreter_language: str | None = None
    requester_time_zone: str | None = None
    expert_id: str | None = None
    expert_time_zone: str | None = None
    slots: tuple[ConsultSlot, ...] = ()
    confirmed_slot: ConsultSlot | None = None
    meeting_url: str | None = None
    sequence: int = 0
    cancel_reason: ConsultCancelReason | None = None
    requested_at: AwareDatetime
    updated_at: AwareDatetime

    def is_open(self, now: datetime) -> bool:
        """Still to be arranged, or arranged and not yet over."""
        if self.state == "confirmed" and self.confirmed_slot is not None:
            return _end(self.confirmed_slot) > now
        return self.state in ("requested", "proposed")


@dataclass(frozen=True)
class ConsultAsk:
    kind: ConsultKind
    attendees: Attendees
    preferred_times: str | None = None
    interpreter_needed: bool = False
    interpreter_language: str | None = None
    time_zone: str | None = None


@dataclass(frozen=True)
class Proposal:
    slots: tuple[ConsultSlot, ...]
    expert_id: str
    expert_time_zone: str | None = None
    # Required for a video consult's first proposal; a reschedule keeps the last one if None.
    meeting_url: str | None = None


@dataclass(frozen=True)
class Step:
    """The case after a consult step, and its `consult.updated`."""

    record: CaseRecord
    event: ConsultUpdated


def request(
    record: CaseRecord,
    *,
    consult_id: str,
    ask: ConsultAsk,
    actor: Actor,
    report_issued: bool,
    at: datetime,
) -> Step:
    """The family or the referring physician asks for a consult about the issued report."""
    _require_open_case(record)
    if actor.role not in ("guardian", "referring-physician"):
        raise DomainError("forbidden", "only the family or the referring physician may ask")
    if not report_issued:
        raise DomainError("report_not_issued", "a consult can be asked for once the report is out")
    if any(c.is_open(at) for c in record.consults):
        raise DomainError("consult_open", "this case has a consult being arranged or to come")
    ask = _with_case_defaults(ask, record, actor)
    if ask.interpreter_needed and not ask.interpreter_language:
        raise DomainError(
            "interpreter_language_required",
            "say which language the interpreter should speak",
            "interpreter_language",
        )
    _check_zone(ask.time_zone, "time_zone")
    if ask.preferred_times is not None and len(ask.preferred_times) > MAX_PREFERRED_TIMES:
        raise DomainError(
            "too_long", "preferred times are at most 500 characters", "preferred_times"
        )
    consult = Consult(
        consult_id=consult_id,
        state="requested",
        kind=ask.kind,
        attendees=ask.attendees,
        requested_by=actor,
        preferred_times=ask.preferred_times or None,
        interpreter_needed=ask.interpreter_needed,
        interpreter_language=ask.interpreter_language if ask.interpreter_needed else None,
        requester_time_zone=ask.time_zone,
        requested_at=at,
        updated_at=at,
    )
    return _step(record, consult, "requested", actor)


def propose(
    record: CaseRecord, consult_id: str, proposal: Proposal, *, actor: Actor, at: datetime
) -> Step:
    """The intake team offers times with an expert (and the meeting link of a video consult)."""
    _require_open_case(record)
    consult = _find(record, consult_id)
    if consult.state != "requested":
        raise _not_now(consult, "take proposed times")
    return _step(record, _offered(consult, proposal, at), "proposed", actor)


def reschedule(
    record: CaseRecord, consult_id: str, proposal: Proposal, *, actor: Actor, at: datetime
) -> Step:
    """New times for a proposed or confirmed consult; the requester chooses again."""
    _require_open_case(record)
    consult = _find(record, consult_id)
    if consult.state not in ("proposed", "confirmed"):
        raise _not_now(consult, "be rescheduled")
    moved = _offered(consult, proposal, at).model_copy(update={"sequence": consult.sequence + 1})
    return _step(record, moved, "rescheduled", actor)


def confirm(
    record: CaseRecord, consult_id: str, start: datetime, *, actor: Actor, at: datetime
) -> Step:
    """The requester picks one of the times offered."""
    _require_open_case(record)
    consult = _find(record, consult_id)
    if consult.state != "proposed":
        raise _not_now(consult, "be confirmed")
    chosen = next((s for s in consult.slots if s.start == start), None)
    if chosen is None:
        raise DomainError("unknown_slot", "choose one of the times offered", "start")
    if chosen.start <= at:
        raise DomainError("slot_passed", "that time has passed; ask for new times", "start")
    update = {"state": "confirmed", "confirmed_slot": chosen, "updated_at": at}
    return _step(record, consult.model_copy(update=update), "confirmed", actor)


def cancel(
    record: CaseRecord,
    consult_id: str,
    reason: ConsultCancelReason,
    *,
    actor: Actor,
    at: datetime,
) -> Step:
    """Either side calls the consult off; a confirmed time stays on the event (its invitation
    is withdrawn)."""
    consult = _find(record, consult_id)
    if consult.state == "cancelled":
        raise _not_now(consult, "be cancelled")
    update = {
        "state": "cancelled",
        "cancel_reason": reason,
        "sequence": consult.sequence + 1,
        "updated_at": at,
    }
    return _step(record, consult.model_copy(update=update), "cancelled", actor)


def _with_case_defaults(ask: ConsultAsk, record: CaseRecord, actor: Actor) -> ConsultAsk:
    """What the request form left out, from the case: the family's interpreter (asked for at
    submission) when the family asks, and the asker's time zone."""
    sub = record.submission
    if actor.role == "guardian":
        guardian = sub.guardian
        if (
            not ask.interpreter_needed
            and guardian.interpreter_needed
            and guardian.interpreter_language
        ):
            ask = replace(
                ask, interpreter_needed=True, interpreter_language=guardian.interpreter_language
            )
        zone = guardian.time_zone
    else:
        zone = sub.referring_physician.time_zone
    return ask if ask.time_zone or not zone else replace(ask, time_zone=zone)


def _offered(consult: Consult, proposal: Proposal, at: datetime) -> Consult:
    slots = proposal.slots
    if not 1 <= len(slots) <= MAX_SLOTS:
        raise DomainError("slot_count", f"offer between 1 and {MAX_SLOTS} times", "slots")
    if len({s.start for s in slots}) != len(slots):
        raise DomainError("duplicate_slot", "the same time is offered twice", "slots")
    if any(s.start <= at for s in slots):
        raise DomainError("slot_in_past", "every time offered must be in the future", "slots")
    _check_zone(proposal.expert_time_zone, "expert_time_zone")
    url = proposal.meeting_url or consult.meeting_url
    if consult.kind == "video" and url is None:
        raise DomainError(
            "meeting_url_required", "a video consult needs its meeting link", "meeting_url"
        )
    if consult.kind == "in-person" and proposal.meeting_url is not None:
        raise DomainError(
            "meeting_url_not_allowed", "an in-person consult has no meeting link", "meeting_url"
        )
    return consult.model_copy(
        update={
            "state": "proposed",
            "slots": tuple(sorted(slots, key=lambda s: s.start)),
            "confirmed_slot": None,
            "expert_id": proposal.expert_id,
            "expert_time_zone": proposal.expert_time_zone or consult.expert_time_zone,
            "meeting_url": url,
            "updated_at": at,
        }
    )


def _step(record: CaseRecord, consult: Consult, change: ConsultChange, actor: Actor) -> Step:
    consults = tuple(consult if c.consult_id == consult.consult_id else c for c in record.consults)
    if consult.consult_id not in {c.consult_id for c in record.consults}:
        consults = (*consults, consult)
    role = consult.requested_by.role
    requester: RequesterRole = (
        "referring-physician" if role == "referring-physician" else "guardian"
    )
    event = ConsultUpdated(
        case_id=record.case_id,
        consult_id=consult.consult_id,
        change=change,
        kind=consult.kind,
        requested_by_role=requester,
        attendees=consult.attendees,
        interpreter_needed=consult.interpreter_needed,
        interpreter_language=consult.interpreter_language,
        requester_time_zone=consult.requester_time_zone,
        expert_id=consult.expert_id,
        expert_time_zone=consult.expert_time_zone,
        slots=list(consult.slots) if change in ("proposed", "rescheduled") else [],
        confirmed_slot=consult.confirmed_slot,
        meeting_url=consult.meeting_url,
        sequence=consult.sequence,
        cancel_reason=consult.cancel_reason,
        actor=actor,
    )
    return Step(record.model_copy(update={"consults": consults}), event)


def _find(record: CaseRecord, consult_id: str) -> Consult:
    for consult in record.consults:
        if consult.consult_id == consult_id:
            return consult
    raise DomainError("consult_not_found", "this case has no such consult", "consult_id")


def _check_zone(name: str | None, field: str) -> None:
    if name is None:
        return
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise DomainError("unknown_time_zone", "not a time zone name (IANA)", field) from None


def _require_open_case(record: CaseRecord) -> None:
    if record.status == "cancelled":
        raise DomainError("case_closed", "the case is cancelled")


def _not_now(consult: Consult, what: str) -> DomainError:
    return DomainError("invalid_transition", f"a consult that is {consult.state} cannot {what}")


def _end(slot: ConsultSlot) -> datetime:
    return slot.start + timedelta(minutes=slot.minutes)
