"""What the notify service keeps of each consumed event: a few PHI-free facts. No I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class EventFacts(BaseModel):
    """One consumed event as the notify service keeps it: ids, type, time and PHI-free facts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str
    case_id: str
    event_type: str
    time: AwareDatetime
    facts: dict[str, Any] = Field(default_factory=dict)


def initials_of(given: str, family: str) -> str:
    return ".".join(part[:1].upper() for part in (given, family) if part) + "."


def age_label(born: date, on: date) -> str:
    """Whole years from two on, months below (a clinician's usual shorthand)."""
    months = (on.year - born.year) * 12 + on.month - born.month - (on.day < born.day)
    months = max(months, 0)
    return f"{months // 12} y" if months >= 24 else f"{months} mo"


def facts_of(event_type: str, data: dict[str, Any], time: datetime) -> dict[str, Any]:
    """The few facts the board and the messages need: counts, ids, dates; never names."""
    if event_type == "case.submitted":
        patient = data["patient"]
        born = date.fromisoformat(str(patient["date_of_birth"]))
        return {
            "specialty": data["specialty"],
            "urgency": data["urgency"],
            "initials": initials_of(patient["given_name"], patient["family_name"]),
            "age": age_label(born, time.date()),
            "organization_id": data.get("organization_id"),
            "submitted_via": data.get("submitted_via"),
        }
    if event_type == "case.updated":
        return {
            "change": data["change"],
            "status": data["status"],
            "specialty": data["specialty"],
            # Who made the change, by role only (a family's withdrawal is answered differently).
            "by": data["actor"]["role"],
        }
    if event_type == "records.updated":
        return {"missing": len(data["missing"]), "required": len(data["required"])}
    if event_type == "records.requested":
        return {"items": len(data["items"])}
    if event_type == "records.ready":
        return {
            "documents": len(data["documents"]),
            "studies": len(data["studies"]),
            "identity": data["identity_check"]["status"],
        }
    if event_type == "assignment.updated":
        expert = data.get("expert") or {}
        return {
            "change": data["change"],
            "expert_id": expert.get("expert_id"),
            "expert_name": expert.get("display_name"),
            "offer_expires_at": data.get("offer_expires_at"),
            "due_at": data.get("due_at"),
        }
    if event_type == "expert.assigned":
        lead = data["lead"]
        return {
            "expert_id": lead["expert_id"],
            "expert_name": lead["display_name"],
            "team": [m["expert_id"] for m in data.get("team", [])],
            "due_at": data["due_at"],
            "urgency": data["urgency"],
        }
    if event_type == "report.issued":
        return {
            "report_id": data["report_id"],
            "version": data["version"],
            "amends_version": data.get("amends_version"),
            "recipients": list(data["recipients"]),
        }
    if event_type == "followup.updated":
        return {
            "change": data["change"],
            "asked_by": data["asked_by_role"],
            "expert_ids": list(data["expert_ids"]),
            "open": data["open_questions"],
            "close_reason": data.get("close_reason"),
        }
    if event_type == "consult.updated":
        return {
            "consult_id": data["consult_id"],
            "change": data["change"],
            "kind": data["kind"],
            "requested_by": data["requested_by_role"],
            "attendees": data["attendees"],
            "interpreter_language": data.get("interpreter_language"),
            "requester_time_zone": data.get("requester_time_zone"),
            "expert_id": data.get("expert_id"),
            "expert_time_zone": data.get("expert_time_zone"),
            "slots": list(data.get("slots") or []),
            "confirmed_slot": data.get("confirmed_slot"),
            "meeting_url": data.get("meeting_url"),
            "sequence": data.get("sequence", 0),
            "cancel_reason": data.get("cancel_reason"),
        }
    if event_type == "financial_clearance.updated":
        estimate = data.get("estimate") or {}
        return {
            "state": data["state"],
            "method": data.get("method"),
            "currency": estimate.get("currency"),
            "total_minor": estimate.get("total_minor"),
            "insurance_may_cover_minor": estimate.get("insurance_may_cover_minor"),
        }
    return {}


_CHANGE_TITLES = {
    "offered": "Offered to {name}",
    "declined": "Declined by {name}",
    "offer-expired": "Offer to {name} expired",
    "no-expert-available": "No expert available: staff to choose",
    "reassigned": "Taken from {name} for reassignment",
    "sent-to-board": "Sent to a board",
    "service-level-at-risk": "Service level at risk",
    "service-level-overdue": "Service level overdue",
}


def title_of(event: EventFacts) -> str:
    """A one-line, PHI-free description of the event for the case detail."""
    f = event.facts
    match event.event_type:
        case "case.submitted":
            return f"Request submitted ({f['urgency']}, via {f.get('submitted_via') or 'family'})"
        case "case.updated":
            return f"Intake: {str(f['change']).replace('-', ' ')}"
        case "records.updated":
            return f"Records checklist: {f['missing']} of {f['required']} missing"
        case "records.requested":
            return f"{f['items']} missing record(s) requested from the family"
        case "records.ready":
            return f"Records complete: {f['documents']} documents, {f['studies']} studies"
        case "assignment.updated":
            template = _CHANGE_TITLES.get(str(f["change"]), str(f["change"]))
            return template.format(name=f.get("expert_name") or "the expert")
        case "expert.assigned":
            return f"Accepted by {f['expert_name']}"
        case "report.issued":
            if f.get("amends_version"):
                return f"Amended report v{f['version']} issued"
            return f"Report v{f['version']} issued"
        case "followup.updated":
            asker = "family" if f["asked_by"] == "guardian" else "physician"
            reason = f" ({str(f['close_reason']).replace('-', ' ')})" if f["close_reason"] else ""
            return f"Follow-up question from the {asker} {f['change']}{reason}; {f['open']} open"
        case "consult.updated":
            return _consult_title(f)
        case "financial_clearance.updated":
            if f["state"] == "cleared":
                return f"Financially cleared ({str(f['method']).replace('-', ' ')})"
            return "Awaiting financial clearance"
    return event.event_type


def _consult_title(f: dict[str, Any]) -> str:
    what = "Video consult" if f["kind"] == "video" else "In-person consult"
    change = f["change"]
    if change == "requested":
        who = "family" if f["requested_by"] == "guardian" else "physician"
        return f"{what} requested by the {who}"
    if change in ("proposed", "rescheduled"):
        return f"{what} {change}: {len(f['slots'])} time(s) offered"
    if change == "confirmed" and f.get("confirmed_slot"):
        start = datetime.fromisoformat(str(f["confirmed_slot"]["start"])).astimezone(UTC)
        return f"{what} confirmed for {start:%Y-%m-%d %H:%M} UTC"
    reason = f" ({f['cancel_reason']!s})" if f.get("cancel_reason") else ""
    return f"{what} {change}{reason}"
