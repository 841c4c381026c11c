"""What a command did to a case: the new record, the events it causes, and whether the next
best candidate must now be found (which needs the roster, so the caller ranks and continues)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.assignment.domain.cases import CaseRecord
from shared.contracts import AssignmentUpdated
from shared.contracts.assignment_updated import AssignmentChange
from shared.contracts.common import Actor
from shared.contracts.expert_assigned import ExpertRef
from shared.envelope import Payload

IdFactory = Callable[[], str]
_SHORT = 200


@dataclass(frozen=True)
class Transition:
    record: CaseRecord
    events: tuple[Payload, ...] = ()
    match_next: bool = False

    def then(self, other: Transition) -> Transition:
        return Transition(other.record, self.events + other.events, other.match_next)


@dataclass(frozen=True)
class OfferTerms:
    """The moment of a command, how long an offer stays open, and where new ids come from."""

    now: datetime
    timeout: timedelta
    new_id: IdFactory


def updated(
    record: CaseRecord,
    change: AssignmentChange,
    *,
    expert: ExpertRef | None = None,
    reasons: Iterable[str] = (),
    offer_expires_at: datetime | None = None,
    offer_id: str | None = None,
    actor: Actor | None = None,
) -> AssignmentUpdated:
    """An assignment.updated event for the case as it is in `record`."""
    level = record.service_level
    return AssignmentUpdated(
        case_id=record.case_id,
        assignment_id=record.assignment_id or record.case_id,
        change=change,
        expert=expert,
        reasons=[short(r) for r in reasons],
        offer_id=offer_id,
        offer_expires_at=offer_expires_at,
        due_at=level.due_at if level else None,
        actor=actor,
    )


def short(text: str) -> str:
    return text if len(text) <= _SHORT else text[: _SHORT - 1] + "…"
