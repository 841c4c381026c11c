"""What the JSON API accepts and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from services.notify.handlers import PARTNER_EVENT_TYPES
from shared.contracts.common import CaseId, Email, LanguageTag, ShortText
from shared.mongo import Document

PartnerEventType = Literal["report.issued", "expert.assigned", "records.ready"]
assert set(PartnerEventType.__args__) == set(PARTNER_EVENT_TYPES)  # type: ignore[attr-defined]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PartnerCreate(_Request):
    partner_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    name: ShortText
    organization_id: ShortText
    url: AnyHttpUrl
    event_types: list[PartnerEventType] = Field(min_length=1)


class PartnerPublic(BaseModel):
    partner_id: str
    name: str
    organization_id: str
    url: str
    event_types: list[str]
    status: str
    disabled_reason: str | None = None
    created_at: datetime

    @classmethod
    def of(cls, doc: Document) -> PartnerPublic:
        return cls.model_validate({**doc, "partner_id": doc["_id"]})


class PartnerCreated(PartnerPublic):
    secret: str = Field(description="The signing secret (whsec_...); shown only this once.")


class PartnerDisable(_Request):
    reason: ShortText = Field(description="Why the feed is off, for the next admin to read.")


class ShareCreate(_Request):
    case_id: CaseId


class ExpertContact(_Request):
    email: Email
    language: LanguageTag = "en"


class DeliveryPublic(BaseModel):
    """One delivery as the log shows it: email addresses masked, no message content."""

    delivery_id: str
    channel: str
    recipient: str
    address: str | None = None
    case_id: str
    event_id: str
    event_type: str
    template: str | None = None
    language: str | None = None
    status: str
    attempts: int
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    last_error: dict[str, str] | None = None
    history: list[dict[str, Any]] = Field(default_factory=list)
    created_at: datetime
    # Set on the deliveries of a partner since deleted (its `recipient` names it still).
    partner_removed_at: datetime | None = None

    @classmethod
    def of(cls, doc: Document) -> DeliveryPublic:
        fields = {k: v for k, v in doc.items() if k in cls.model_fields}
        fields["delivery_id"] = doc["_id"]
        fields["address"] = mask(doc.get("address"))
        return cls.model_validate(fields)


def mask(address: str | None) -> str | None:
    """r***@example.org: enough for staff to tell addresses apart, not to read them."""
    if not address or "@" not in address:
        return address
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


class RebuildStarted(BaseModel):
    status: Literal["started", "running"]
