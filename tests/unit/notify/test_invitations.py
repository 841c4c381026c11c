"""The calendar invitation a confirmed consult sends (RFC 5545/5546), read back as a calendar
program reads it: unfolded lines, one event, UID stable per consult, times in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from services.notify.domain.invitations import Invitation, calendar_text
from services.notify.emails import RenderedEmail, build_message

START = datetime(2026, 12, 8, 16, 0, tzinfo=UTC)
STAMP = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
LONG_URL = "https://meet.example.org/" + "room-" * 30


def invitation(**changes: object) -> Invitation:
    values: dict[str, object] = {
        "consult_id": "c1",
        "case_id": "case-1",
        "kind": "video",
        "method": "REQUEST",
        "sequence": 0,
        "start": START,
        "minutes": 45,
        "meeting_url": LONG_URL,
        "stamp": STAMP,
    }
    return Invitation(**{**values, **changes})  # type: ignore[arg-type]


def unfolded(text: str) -> dict[str, list[str]]:
    """Property name → values, after RFC 5545 unfolding (CRLF followed by one space)."""
    assert text.endswith("\r\n")
    assert "\n" not in text.replace("\r\n", "")
    for line in text.split("\r\n"):
        assert len(line.encode()) <= 75, line
    found: dict[str, list[str]] = {}
    for line in text.replace("\r\n ", "").split("\r\n"):
        if line:
            name, _, value = line.partition(":")
            found.setdefault(name.split(";")[0], []).append(value)
    return found


def test_a_request_is_one_event_in_utc_with_a_stable_uid_and_folded_lines() -> None:
    text = calendar_text(
        invitation(), language="en", organizer="intake@x.org", attendee="rosa@example.org"
    )
    props = unfolded(text)
    assert props["BEGIN"] == ["VCALENDAR", "VEVENT"]
    assert props["METHOD"] == ["REQUEST"] and props["VERSION"] == ["2.0"]
    assert props["UID"] == ["consult-c1@second-opinion"]
    assert props["DTSTART"] == ["20261208T160000Z"]
    assert props["DTEND"] == ["20261208T164500Z"]
    assert props["DTSTAMP"] == ["20261204T090000Z"]
    assert props["SEQUENCE"] == ["0"]
    assert props["URL"] == [LONG_URL] and props["LOCATION"] == [LONG_URL]
    assert props["SUMMARY"] == ["Video consult with the expert (ref case-1)"]
    assert props["ORGANIZER"] == ["mailto:intake@x.org"]
    assert props["ATTENDEE"] == ["mailto:rosa@example.org"]
    # The long URL had to be folded.
    assert "\r\n " in text


def test_the_same_consult_keeps_its_uid_a_reschedule_raises_the_sequence_and_cancel() -> None:
    moved = unfolded(calendar_text(invitation(sequence=1), language="es", organizer="i@x.org"))
    cancel = unfolded(
        calendar_text(invitation(method="CANCEL", sequence=2), language="es", organizer="i@x.org")
    )
    assert moved["UID"] == cancel["UID"] == ["consult-c1@second-opinion"]
    assert moved["SEQUENCE"] == ["1"] and cancel["SEQUENCE"] == ["2"]
    assert cancel["METHOD"] == ["CANCEL"] and cancel["STATUS"] == ["CANCELLED"]
    assert moved["SUMMARY"] == ["Consulta por video con el especialista (ref. case-1)"]


def test_an_in_person_consult_has_no_meeting_link() -> None:
    props = unfolded(
        calendar_text(
            invitation(kind="in-person", meeting_url=None), language="en", organizer="i@x.org"
        )
    )
    assert "URL" not in props and "LOCATION" not in props


def test_the_invitation_rides_along_as_a_calendar_part() -> None:
    email = RenderedEmail(subject="s", text="t", html="<p>t</p>", language="en")
    text = calendar_text(invitation(), language="en", organizer="i@x.org")
    message = build_message(
        email, sender="a@b.org", to="c@d.org", delivery_id="e1", calendar=(text, "REQUEST")
    )
    parts = [part.get_content_type() for part in message.walk()]
    assert parts == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "text/calendar",
    ]
    (calendar,) = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert calendar.get_param("method") == "REQUEST"
    assert calendar.get_content_charset() == "utf-8"
    assert calendar.get_filename() == "invite.ics"
    assert calendar.get_content() == text
