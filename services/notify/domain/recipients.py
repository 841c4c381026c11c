"""Who to tell about an event, with which message, in which language. No I/O.

A message never carries clinical details: templates get counts, dates, the case reference and
(for a report) a secure link minted when the message is sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from services.notify.catalogs import LANGUAGES as CATALOG_LANGUAGES
from services.notify.domain import consults
from services.notify.domain.facts import EventFacts
from services.notify.domain.invitations import Invitation
from shared.catalogs import primary_language
from shared.contracts.financial_clearance_updated import money

RecipientRole = Literal["guardian", "referring-physician", "staff", "expert"]
Template = Literal[
    "request-received",
    "records-requested",
    "records-complete",
    "offer-made",
    "offer-accepted",
    "no-expert",
    "service-level-at-risk",
    "service-level-overdue",
    "report-issued",
    "report-amended",
    "follow-up-asked",
    "follow-up-answered",
    "follow-up-closed",
    "case-withdrawn",
    "case-cancelled",
    "consult-requested",
    "consult-proposed",
    "consult-rescheduled",
    "consult-confirmed",
    "consult-cancelled",
    "financial-clearance-required",
    "financial-clearance-cleared",
]
CASE_LINK_ROLES = ("guardian", "referring-physician")
LANGUAGES = CATALOG_LANGUAGES


@dataclass(frozen=True)
class Recipient:
    role: RecipientRole
    # The expert's id for role "expert"; empty for the others (one guardian per case).
    ref: str = ""

    @property
    def key(self) -> str:
        return f"{self.role}:{self.ref}" if self.ref else self.role


@dataclass(frozen=True)
class MessageIntent:
    recipient: Recipient
    template: Template
    params: dict[str, Any] = field(default_factory=dict)
    # A calendar invitation to attach (a consult's time confirmed or withdrawn).
    invitation: Invitation | None = None


def language_for(preferred: str | None) -> str:
    """The template language for a BCP 47 tag: its primary language if translated, else en."""
    return primary_language(preferred, LANGUAGES)


def messages_for(event: EventFacts) -> list[MessageIntent]:
    """The messages an event causes, one per recipient."""
    f = event.facts
    guardian = Recipient("guardian")
    staff = Recipient("staff")
    match event.event_type:
        case "case.submitted":
            return [MessageIntent(guardian, "request-received")]
        case "records.requested":
            return [MessageIntent(guardian, "records-requested", {"items": f["items"]})]
        case "records.ready":
            return [MessageIntent(guardian, "records-complete")]
        case "case.updated" if f.get("change") == "cancelled":
            withdrawn = f.get("by") in CASE_LINK_ROLES
            return [MessageIntent(guardian, "case-withdrawn" if withdrawn else "case-cancelled")]
        case "assignment.updated":
            return _assignment_messages(f, staff)
        case "expert.assigned":
            params = {"expert_name": f["expert_name"], "due_at": f["due_at"]}
            return [
                MessageIntent(staff, "offer-accepted", params),
                MessageIntent(Recipient("expert", f["expert_id"]), "offer-accepted", params),
            ]
        case "report.issued":
            template: Template = "report-amended" if f.get("amends_version") else "report-issued"
            params = {"report_id": f["report_id"], "version": f["version"]}
            return [
                MessageIntent(Recipient(role), template, params)
                for role in ("guardian", "referring-physician")
                if role in f.get("recipients", [])
            ]
        case "followup.updated":
            return _follow_up_messages(f, staff)
        case "consult.updated":
            return _consult_messages(event)
        case "financial_clearance.updated":
            return [_clearance_message(f, guardian)]
    return []


def _clearance_message(f: dict[str, Any], guardian: Recipient) -> MessageIntent:
    """The family: the estimate when clearance is needed, and word when it is done."""
    if f["state"] == "cleared":
        return MessageIntent(guardian, "financial-clearance-cleared", {"method": f["method"]})
    params: dict[str, Any] = {"total": None, "insurance": None}
    if f.get("currency") and f.get("total_minor") is not None:
        # The amounts themselves: each recipient's email writes them in its own language
        # (emails.EmailRenderer); `total` and `insurance` are the English fallbacks.
        params["currency"] = f["currency"]
        params["total_minor"] = f["total_minor"]
        params["total"] = money(f["total_minor"], f["currency"])
        if f.get("insurance_may_cover_minor"):
            params["insurance_minor"] = f["insurance_may_cover_minor"]
            params["insurance"] = money(f["insurance_may_cover_minor"], f["currency"])
    return MessageIntent(guardian, "financial-clearance-required", params)


def _follow_up_messages(f: dict[str, Any], staff: Recipient) -> list[MessageIntent]:
    """Asked: the lead author and the intake team; answered or closed: whoever asked."""
    asker = Recipient(f["asked_by"])
    if f["change"] == "asked":
        lead = Recipient("expert", f["expert_ids"][0])
        return [MessageIntent(lead, "follow-up-asked"), MessageIntent(staff, "follow-up-asked")]
    if f["change"] == "answered":
        return [MessageIntent(asker, "follow-up-answered")]
    if f["close_reason"] in ("answered-elsewhere", "out-of-scope"):
        return [MessageIntent(asker, "follow-up-closed", {"reason": f["close_reason"]})]
    return []


def _consult_messages(event: EventFacts) -> list[MessageIntent]:
    """Asked: the intake team; times offered: the requester (and the expert, when moved);
    confirmed or cancelled: whoever attends, the expert and the intake team, with the calendar
    invitation. Times are shown in each person's time zone (consults.py)."""
    f = event.facts
    requester = Recipient(f["requested_by"])
    expert = Recipient("expert", f["expert_id"]) if f.get("expert_id") else None
    staff = Recipient("staff")
    change = f["change"]
    if change == "requested":
        return [MessageIntent(staff, "consult-requested", consults.request_params(f))]
    if change in ("proposed", "rescheduled"):
        template: Template = "consult-proposed" if change == "proposed" else "consult-rescheduled"
        told = [requester] if change == "proposed" else [requester, *([expert] if expert else [])]
        return [MessageIntent(r, template, consults.offer_params(f, r.role)) for r in told]
    people = [Recipient(role) for role in consults.parties(f)]
    people += [expert] if expert else []
    people.append(staff)
    if change == "confirmed":
        invitation = consults.invitation(event, "REQUEST")
        template = "consult-confirmed"
    elif change == "cancelled":
        invitation = consults.invitation(event, "CANCEL") if f.get("confirmed_slot") else None
        template = "consult-cancelled"
    else:
        return []
    return [
        MessageIntent(r, template, consults.meeting_params(f, r.role), invitation) for r in people
    ]


def _assignment_messages(f: dict[str, Any], staff: Recipient) -> list[MessageIntent]:
    change = f["change"]
    expert = Recipient("expert", f["expert_id"]) if f.get("expert_id") else None
    if change == "offered" and expert:
        params = {"expires_at": f.get("offer_expires_at")}
        return [MessageIntent(expert, "offer-made", params)]
    if change == "no-expert-available":
        return [MessageIntent(staff, "no-expert")]
    if change in ("service-level-at-risk", "service-level-overdue"):
        template: Template = (
            "service-level-at-risk"
            if change == "service-level-at-risk"
            else "service-level-overdue"
        )
        params = {"due_at": f.get("due_at")}
        told = [MessageIntent(staff, template, params)]
        if expert:
            told.append(MessageIntent(expert, template, params))
        return told
    return []


def delivery_id(event_id: str, channel: str, recipient_key: str) -> str:
    """One delivery per (event, channel, recipient): its id is the dedupe key."""
    return f"{event_id}:{channel}:{recipient_key}"
