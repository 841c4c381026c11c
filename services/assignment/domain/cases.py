"""The assignment state of one case: what the consumers learned, its offers and its clock."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.assignment.domain.service_levels import ServiceLevel
from shared.contracts.common import Actor, Specialty, Urgency
from shared.contracts.expert_assigned import ExpertRef

Stage = Literal[
    "waiting",  # case.submitted, records.ready (or a required financial clearance) not seen yet
    "needs-triage",  # specialty "not-sure": the intake team must choose one
    "offered",  # one open offer
    "unassigned",  # nobody left to offer it to: staff must act
    "assigned",
    "reported",  # the clock stopped
    "cancelled",
]
OfferStatus = Literal["open", "accepted", "declined", "expired", "withdrawn"]
CLOSED_STAGES: frozenset[Stage] = frozenset({"reported", "cancelled"})


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CaseFacts(_Frozen):
    """The parts of case.submitted that matching uses; no names, no contact details."""

    specialty: Specialty
    urgency: Urgency
    language: str
    referring_organization: str
    working_diagnosis: str
    # The program requires financial clearance: no offer until `financial_clearance.updated`
    # says cleared.
    clearance_required: bool = False


class Offer(_Frozen):
    offer_id: str
    assignment_id: str
    candidate_key: str
    lead: ExpertRef
    team: list[ExpertRef] = Field(default_factory=list)
    board_id: str | None = None
    specialty: Specialty
    status: OfferStatus = "open"
    offered_at: AwareDatetime
    expires_at: AwareDatetime
    decided_at: AwareDatetime | None = None
    decline_reason: str | None = None
    reasons: list[str] = Field(default_factory=list)
    chosen_by: Literal["matching", "staff"] = "matching"
    actor: Actor | None = None

    def expert_ids(self) -> list[str]:
        ids = [self.lead.expert_id]
        ids.extend(m.expert_id for m in self.team if m.expert_id not in ids)
        return ids


class Assignment(_Frozen):
    assignment_id: str
    offer_id: str
    candidate_key: str
    lead: ExpertRef
    team: list[ExpertRef] = Field(default_factory=list)
    board_id: str | None = None
    assigned_at: AwareDatetime
    due_at: AwareDatetime

    def expert_ids(self) -> list[str]:
        ids = [self.lead.expert_id]
        ids.extend(m.expert_id for m in self.team if m.expert_id not in ids)
        return ids


class HistoryEntry(_Frozen):
    """One line of the case's assignment history shown to staff (ids only, never names)."""

    at: AwareDatetime
    change: str
    expert_id: str | None = None
    board_id: str | None = None
    actor: Actor | None = None
    reasons: list[str] = Field(default_factory=list)


class CaseRecord(BaseModel):
    """The assignment state of one case; every command reads it, decides, and writes the next
    version of it with the events it caused, in one atomic write."""

    # Extra keys are the store's derived fields and bookkeeping (outbox, ids).
    model_config = ConfigDict(frozen=True, extra="ignore")

    case_id: str
    version: int = 0
    facts: CaseFacts | None = None
    triaged_specialty: Specialty | None = None
    records_ready_at: AwareDatetime | None = None
    financially_cleared_at: AwareDatetime | None = None
    cancelled_at: AwareDatetime | None = None
    report_issued_at: AwareDatetime | None = None
    rematch_requested: bool = False
    stage: Stage = "waiting"
    assignment_id: str | None = None
    offers: list[Offer] = Field(default_factory=list)
    tried_keys: list[str] = Field(default_factory=list)
    assignment: Assignment | None = None
    service_level: ServiceLevel | None = None
    reasons: list[str] = Field(default_factory=list)
    history: list[HistoryEntry] = Field(default_factory=list)

    @property
    def specialty(self) -> Specialty | None:
        if self.triaged_specialty is not None:
            return self.triaged_specialty
        return self.facts.specialty if self.facts else None

    @property
    def awaiting_clearance(self) -> bool:
        """The program requires financial clearance and it has not come."""
        return bool(self.facts and self.facts.clearance_required) and (
            self.financially_cleared_at is None
        )

    @property
    def open_offer(self) -> Offer | None:
        return next((o for o in self.offers if o.status == "open"), None)

    def find_offer(self, offer_id: str) -> Offer | None:
        return next((o for o in self.offers if o.offer_id == offer_id), None)

    def load_expert_ids(self) -> list[str]:
        """Whose capacity this case uses: the open offer's team, or the assigned team."""
        if self.stage == "offered" and self.open_offer:
            return self.open_offer.expert_ids()
        if self.stage == "assigned" and self.assignment:
            return self.assignment.expert_ids()
        return []

    def assigned_keys(self) -> list[str]:
        """Candidate keys that took this case, for least-recently-assigned fairness."""
        if self.assignment is None:
            return []
        keys = [f"expert:{i}" for i in self.assignment.expert_ids()]
        if self.assignment.board_id:
            keys.append(f"board:{self.assignment.board_id}")
        return keys

    def with_offer(self, offer: Offer) -> CaseRecord:
        """Replace the offer with the same id (or add it)."""
        others = [o for o in self.offers if o.offer_id != offer.offer_id]
        ordered = sorted([*others, offer], key=lambda o: o.offered_at)
        return self.model_copy(update={"offers": ordered})

    def logged(self, at: datetime, change: str, **details: object) -> CaseRecord:
        entry = HistoryEntry.model_validate({"at": at, "change": change, **details})
        return self.model_copy(update={"history": [*self.history, entry]})
