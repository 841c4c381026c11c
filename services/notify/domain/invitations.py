"""The calendar invitation of a consult (iCalendar, RFC 5545, with RFC 5546's METHOD). No I/O.

Written by hand (no calendar library is installed): one VEVENT whose UID is the consult's, so a
reschedule (a higher SEQUENCE) moves the same entry in the person's calendar and a cancellation
(METHOD:CANCEL) removes it. Times are UTC (`Z`), so no VTIMEZONE is needed; the calendar program
shows them in its own time zone. The summary names the case reference only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from services.notify.catalogs import sentence

Method = Literal["REQUEST", "CANCEL"]
PRODUCT = "-//Second Opinion//Consults//EN"
LINE_OCTETS = 75


@dataclass(frozen=True)
class Invitation:
    consult_id: str
    case_id: str
    kind: str
    method: Method
    sequence: int
    start: datetime
    minutes: int
    meeting_url: str | None
    # When the invitation was made (the event's time): the same for every resend.
    stamp: datetime

    @property
    def uid(self) -> str:
        return f"consult-{self.consult_id}@second-opinion"

    def as_doc(self) -> dict[str, Any]:
        return {
            "consult_id": self.consult_id,
            "case_id": self.case_id,
            "kind": self.kind,
            "method": self.method,
            "sequence": self.sequence,
            "start": self.start.isoformat(),
            "minutes": self.minutes,
            "meeting_url": self.meeting_url,
            "stamp": self.stamp.isoformat(),
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Invitation:
        return cls(
            consult_id=str(doc["consult_id"]),
            case_id=str(doc["case_id"]),
            kind=str(doc["kind"]),
            method="CANCEL" if doc["method"] == "CANCEL" else "REQUEST",
            sequence=int(doc["sequence"]),
            start=datetime.fromisoformat(str(doc["start"])),
            minutes=int(doc["minutes"]),
            meeting_url=doc.get("meeting_url"),
            stamp=datetime.fromisoformat(str(doc["stamp"])),
        )


def calendar_text(
    invitation: Invitation, *, language: str, organizer: str, attendee: str | None = None
) -> str:
    """The .ics file: CRLF line ends, lines folded at 75 octets."""
    summary = sentence(language, f"invitation.summary.{invitation.kind}")
    end = invitation.start + timedelta(minutes=invitation.minutes)
    cancel = invitation.method == "CANCEL"
    lines = [
        "BEGIN:VCALENDAR",
        f"PRODID:{PRODUCT}",
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
        f"METHOD:{invitation.method}",
        "BEGIN:VEVENT",
        f"UID:{invitation.uid}",
        f"SEQUENCE:{invitation.sequence}",
        f"DTSTAMP:{_utc(invitation.stamp)}",
        f"DTSTART:{_utc(invitation.start)}",
        f"DTEND:{_utc(end)}",
        f"SUMMARY:{_text(summary.format(case_id=invitation.case_id))}",
        f"STATUS:{'CANCELLED' if cancel else 'CONFIRMED'}",
        f"ORGANIZER:mailto:{organizer}",
    ]
    if attendee:
        lines.append(f"ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION:mailto:{attendee}")
    if invitation.meeting_url:
        lines += [f"LOCATION:{_text(invitation.meeting_url)}", f"URL:{invitation.meeting_url}"]
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "".join(fold(line) + "\r\n" for line in lines)


def fold(line: str) -> str:
    """RFC 5545 3.1: at most 75 octets a line, continued after CRLF and one space, never
    splitting a UTF-8 character."""
    pieces: list[str] = []
    current, size, limit = "", 0, LINE_OCTETS
    for char in line:
        width = len(char.encode())
        if size + width > limit:
            pieces.append(current)
            # A continuation line starts with the space, which counts.
            current, size, limit = "", 0, LINE_OCTETS - 1
        current += char
        size += width
    pieces.append(current)
    return "\r\n ".join(pieces)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _text(value: str) -> str:
    """A TEXT value: backslash, semicolon, comma and newline escaped (RFC 5545 3.3.11)."""
    escaped = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return escaped.replace("\n", "\\n")
