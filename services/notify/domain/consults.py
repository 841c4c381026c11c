"""What a consult's emails say: its times in each person's time zone, and its invitation.
No I/O.

The requester's time zone and the expert's come on `consult.updated`; anyone else (the other
attendee, the intake team) reads UTC. Times are shown as `2026-12-08 10:00-10:45
(America/Mexico_City, UTC-06:00)`: the same in every language.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.notify.domain.facts import EventFacts
from services.notify.domain.invitations import Invitation, Method

CaseRole = Literal["guardian", "referring-physician"]
ATTENDING: dict[str, tuple[CaseRole, ...]] = {
    "family": ("guardian",),
    "physician": ("referring-physician",),
    "both": ("guardian", "referring-physician"),
}


def parties(f: dict[str, Any]) -> list[CaseRole]:
    """The requester, then whoever else attends (guardian, referring-physician), once each."""
    requester: CaseRole = "referring-physician" if f["requested_by"] != "guardian" else "guardian"
    roles = [requester, *ATTENDING.get(str(f["attendees"]), ())]
    return list(dict.fromkeys(roles))


def zone_for(f: dict[str, Any], role: str) -> str:
    """The IANA name a recipient reads times in."""
    if role == f["requested_by"]:
        return str(f.get("requester_time_zone") or "UTC")
    if role == "expert":
        return str(f.get("expert_time_zone") or "UTC")
    return "UTC"


def slot_text(slot: dict[str, Any], zone_name: str) -> str:
    """One time as a person reads it, in their zone."""
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone_name, zone = "UTC", ZoneInfo("UTC")
    start = _start(slot).astimezone(zone)
    end = start + timedelta(minutes=int(slot["minutes"]))
    span = f"{start:%Y-%m-%d %H:%M}-{end:%H:%M}"
    if zone_name == "UTC":
        return f"{span} UTC"
    offset = start.strftime("%z")
    return f"{span} ({zone_name}, UTC{offset[:3]}:{offset[3:]})"


def utc_text(slot: dict[str, Any]) -> str:
    """The start alone, in UTC (the board and the timeline)."""
    return f"{_start(slot).astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def request_params(f: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": f["kind"],
        "attendees": f["attendees"],
        "interpreter_language": f.get("interpreter_language") or "",
    }


def offer_params(f: dict[str, Any], role: str) -> dict[str, Any]:
    zone = zone_for(f, role)
    return {
        "kind": f["kind"],
        "slots": [slot_text(s, zone) for s in f.get("slots") or []],
        "interpreter_language": f.get("interpreter_language") or "",
    }


def meeting_params(f: dict[str, Any], role: str) -> dict[str, Any]:
    chosen = f.get("confirmed_slot")
    return {
        "kind": f["kind"],
        "when": slot_text(chosen, zone_for(f, role)) if chosen else "",
        "meeting_url": f.get("meeting_url") or "",
        "reason": f.get("cancel_reason") or "",
        "interpreter_language": f.get("interpreter_language") or "",
    }


def invitation(event: EventFacts, method: Method) -> Invitation | None:
    """The calendar entry of the confirmed time (to add, or to withdraw)."""
    f = event.facts
    chosen = f.get("confirmed_slot")
    if not chosen:
        return None
    return Invitation(
        consult_id=str(f["consult_id"]),
        case_id=event.case_id,
        kind=str(f["kind"]),
        method=method,
        sequence=int(f.get("sequence") or 0),
        start=_start(chosen),
        minutes=int(chosen["minutes"]),
        meeting_url=f.get("meeting_url"),
        stamp=event.time,
    )


def _start(slot: dict[str, Any]) -> datetime:
    start = slot["start"]
    return start if isinstance(start, datetime) else datetime.fromisoformat(str(start))
