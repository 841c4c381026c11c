"""Which experts may see a case, followed from assignment's events. Pure.

An expert sees a case while it is offered to them (to decide whether to take it) and while they
are assigned to it, as lead or as a board member; a declined or expired offer, or a
reassignment away from them, ends it. Records and reports keep this list beside each case.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from shared.contracts import AssignmentUpdated, ExpertAssigned
from shared.envelope import Payload

ExpertStanding = Literal["offered", "assigned"]


def experts_after(
    current: Mapping[str, ExpertStanding], payload: Payload
) -> dict[str, ExpertStanding]:
    """The experts of a case (expert id → standing) after one assignment event."""
    experts = dict(current)
    if isinstance(payload, ExpertAssigned):
        # An assignment replaces everyone before it: other offers are over by now.
        members = [payload.lead, *payload.team]
        return {member.expert_id: "assigned" for member in members}
    if isinstance(payload, AssignmentUpdated) and payload.expert is not None:
        expert_id = payload.expert.expert_id
        if payload.change == "offered":
            experts.setdefault(expert_id, "offered")
        elif (
            payload.change in ("declined", "offer-expired") and experts.get(expert_id) == "offered"
        ):
            del experts[expert_id]
        elif payload.change == "reassigned":
            experts.pop(expert_id, None)
    return experts
