"""`expert.assigned`: an expert (or a board with a lead) accepted the case."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.contracts.common import CaseId, ShortText, Specialty, Urgency
from shared.envelope import Payload


class ExpertRef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    expert_id: ShortText
    display_name: ShortText
    specialty: Specialty


class ExpertAssigned(Payload):
    """An expert, or a board with a lead, accepted the case and is due to report."""

    event_type = "expert.assigned"
    schema_version = 1

    case_id: CaseId
    assignment_id: ShortText
    lead: ExpertRef
    team: list[ExpertRef] = Field(default_factory=list)
    board_id: ShortText | None = None
    urgency: Urgency
    assigned_at: AwareDatetime
    due_at: AwareDatetime
