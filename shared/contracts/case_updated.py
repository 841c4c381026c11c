"""`case.updated`: the intake team changed a case (triage, note, hold, resume, cancel)."""

from __future__ import annotations

from typing import Literal

from shared.contracts.common import Actor, CaseId, LongText, Specialty
from shared.envelope import Payload

CaseStatus = Literal["open", "on-hold", "cancelled"]


class CaseUpdated(Payload):
    """The intake team changed a case; the staff board and the other services follow it."""

    event_type = "case.updated"
    schema_version = 1

    case_id: CaseId
    change: Literal["triaged", "note-added", "put-on-hold", "resumed", "cancelled"]
    status: CaseStatus
    specialty: Specialty
    actor: Actor
    reason: LongText | None = None
