"""`followup.updated`: a follow-up question after the report was asked, answered or closed."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from shared.contracts.common import CaseId, NonNegative
from shared.envelope import Payload

FollowUpChange = Literal["asked", "answered", "closed"]
CloseReason = Literal["answered-elsewhere", "out-of-scope", "case-cancelled"]
ExpertId = Annotated[str, Field(min_length=1, max_length=200)]


class FollowUpUpdated(Payload):
    """A family's or physician's question after the report changed. The question and the answer
    stay in the reports service (read them there with a case link): the event carries who is
    to act and how many questions are still open, never the text."""

    event_type = "followup.updated"
    schema_version = 1

    case_id: CaseId
    report_id: str
    follow_up_id: str
    change: FollowUpChange
    asked_by_role: Literal["guardian", "referring-physician"]
    at: AwareDatetime
    # The report's authors (lead first): who answers.
    expert_ids: list[ExpertId] = Field(min_length=1)
    open_questions: NonNegative
    close_reason: CloseReason | None = None
