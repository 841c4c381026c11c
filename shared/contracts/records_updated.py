"""`records.updated` and `records.requested`: a case's records checklist moved, or staff asked
the family for specific missing items."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.contracts.common import Actor, CaseId, LongText, NonNegative, ShortText
from shared.envelope import Payload


class RecordsUpdated(Payload):
    """The checklist of a case changed: an upload was classified, or an item was waived."""

    event_type = "records.updated"
    schema_version = 1

    case_id: CaseId
    required: list[ShortText]
    present: list[ShortText]
    missing: list[ShortText]
    waived: list[ShortText] = Field(default_factory=list)
    document_count: NonNegative
    study_count: NonNegative
    identity_check: Literal["match", "mismatch", "not-checked"]


class RecordsRequested(Payload):
    """Staff asked the family or the physician for specific missing records."""

    event_type = "records.requested"
    schema_version = 1

    case_id: CaseId
    items: list[ShortText] = Field(min_length=1)
    message: LongText | None = None
    requested_by: Actor
