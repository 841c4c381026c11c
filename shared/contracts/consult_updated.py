"""`consult.updated`: after the report, a video or in-person consult with the expert was asked
for, offered times, confirmed, rescheduled or cancelled. Intake coordinates it; notify emails
the times (in each person's time zone) and the calendar invitation."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from shared.contracts.common import Actor, CaseId, LanguageTag, NonNegative
from shared.contracts.common import TimeZoneName as TimeZoneName  # re-exported: intake uses it
from shared.envelope import Payload

ConsultChange = Literal["requested", "proposed", "confirmed", "rescheduled", "cancelled"]
ConsultKind = Literal["video", "in-person"]
# Who should attend besides the expert.
Attendees = Literal["family", "physician", "both"]
ConsultCancelReason = Literal[
    "no-longer-needed",
    "family-unavailable",
    "physician-unavailable",
    "expert-unavailable",
    "answered-in-writing",
    "case-closed",
    "other",
]
MeetingUrl = Annotated[str, StringConstraints(max_length=500, pattern=r"^https://[^\s]+$")]
ExpertId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
MAX_SLOTS = 5


class ConsultSlot(BaseModel):
    """One time offered: its start (UTC) and how long it lasts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: AwareDatetime
    minutes: Annotated[int, Field(ge=15, le=240)]


class ConsultUpdated(Payload):
    """A consult's step. It carries ids, codes, times and the meeting link: never a name, an
    address, a phone number or the requester's own words (their preferred times stay at
    intake)."""

    event_type = "consult.updated"
    schema_version = 1

    case_id: CaseId
    consult_id: str = Field(min_length=1, max_length=100)
    change: ConsultChange
    kind: ConsultKind
    requested_by_role: Literal["guardian", "referring-physician"]
    attendees: Attendees
    interpreter_needed: bool = False
    interpreter_language: LanguageTag | None = None
    # The requester's time zone, for the times in their emails (UTC when not given).
    requester_time_zone: TimeZoneName | None = None
    expert_id: ExpertId | None = None
    expert_time_zone: TimeZoneName | None = None
    # The times offered (proposed, rescheduled); the one chosen once confirmed (and still on a
    # cancellation of a confirmed consult, so its invitation can be withdrawn).
    slots: list[ConsultSlot] = Field(default_factory=list, max_length=MAX_SLOTS)
    confirmed_slot: ConsultSlot | None = None
    # A video consult's meeting (the platform hosts no video).
    meeting_url: MeetingUrl | None = None
    # The calendar invitation's SEQUENCE: raised by every reschedule and by the cancellation.
    sequence: NonNegative = 0
    cancel_reason: ConsultCancelReason | None = None
    actor: Actor
