"""`assignment.updated`: offers, declines, time-outs and service-level states of a case."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from shared.contracts.common import Actor, CaseId, ShortText
from shared.contracts.expert_assigned import ExpertRef
from shared.envelope import Payload

AssignmentChange = Literal[
    "offered",
    "declined",
    "offer-expired",
    "no-expert-available",
    "reassigned",
    "sent-to-board",
    "service-level-at-risk",
    "service-level-overdue",
]


class AssignmentUpdated(Payload):
    """Something happened on the way to, or after, an expert taking the case."""

    event_type = "assignment.updated"
    schema_version = 1

    case_id: CaseId
    assignment_id: ShortText
    change: AssignmentChange
    expert: ExpertRef | None = None
    reasons: list[ShortText] = Field(
        default_factory=list, description="Why this expert was chosen, or why nobody was."
    )
    offer_id: ShortText | None = Field(
        default=None, description="On `offered`: the offer the expert accepts or declines."
    )
    offer_expires_at: AwareDatetime | None = None
    due_at: AwareDatetime | None = None
    actor: Actor | None = None
