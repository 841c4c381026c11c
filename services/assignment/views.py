"""What the API sends and accepts: requests, and views of cases and offers for staff and experts."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict

from services.assignment.domain.cases import (
    Assignment,
    CaseRecord,
    HistoryEntry,
    Offer,
    OfferStatus,
    Stage,
)
from services.assignment.domain.roster import RosterId
from services.assignment.domain.service_levels import ServiceLevelState
from shared.contracts.common import ShortText, Specialty, Urgency
from shared.contracts.expert_assigned import ExpertRef


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AssignRequest(_Request):
    expert_id: RosterId
    note: ShortText | None = None


class BoardRequest(_Request):
    board_id: RosterId
    note: ShortText | None = None


class DeclineRequest(_Request):
    reason: ShortText


class OfferView(BaseModel):
    """An offer with what the expert needs to decide (no names or contact details)."""

    offer_id: str
    case_id: str
    status: OfferStatus
    lead: ExpertRef
    team: list[ExpertRef]
    board_id: str | None
    specialty: Specialty
    urgency: Urgency | None
    family_language: str | None
    working_diagnosis: str | None
    offered_at: AwareDatetime
    expires_at: AwareDatetime
    decided_at: AwareDatetime | None
    decline_reason: str | None
    due_at: AwareDatetime | None
    chosen_by: str
    reasons: list[str]

    @classmethod
    def of(cls, record: CaseRecord, offer: Offer) -> OfferView:
        facts = record.facts
        level = record.service_level
        return cls(
            **offer.model_dump(
                include={
                    "offer_id",
                    "status",
                    "lead",
                    "team",
                    "board_id",
                    "specialty",
                    "offered_at",
                    "expires_at",
                    "decided_at",
                    "decline_reason",
                    "chosen_by",
                    "reasons",
                }
            ),
            case_id=record.case_id,
            urgency=facts.urgency if facts else None,
            family_language=facts.language if facts else None,
            working_diagnosis=facts.working_diagnosis if facts else None,
            due_at=level.due_at if level else None,
        )


class ServiceLevelView(BaseModel):
    state: ServiceLevelState
    started_at: AwareDatetime
    at_risk_at: AwareDatetime
    due_at: AwareDatetime
    stopped_at: AwareDatetime | None


class CaseView(BaseModel):
    """A case as the staff board lists it: where assignment stands and why."""

    case_id: str
    stage: Stage
    specialty: Specialty | None
    urgency: Urgency | None
    assignment_id: str | None
    reasons: list[str]
    open_offer: OfferView | None
    assignment: Assignment | None
    service_level: ServiceLevelView | None
    # The program requires financial clearance and it has not come: no offer until it does.
    awaiting_financial_clearance: bool = False

    @classmethod
    def of(cls, record: CaseRecord, now: datetime) -> CaseView:
        return cls(**_case_fields(record, now))


class CaseDetail(CaseView):
    offers: list[OfferView]
    history: list[HistoryEntry]

    @classmethod
    def of(cls, record: CaseRecord, now: datetime) -> CaseDetail:
        offers = [OfferView.of(record, o) for o in record.offers]
        return cls(**_case_fields(record, now), offers=offers, history=record.history)


def _case_fields(record: CaseRecord, now: datetime) -> dict[str, object]:
    level = record.service_level
    offer = record.open_offer
    return {
        "case_id": record.case_id,
        "stage": record.stage,
        "specialty": record.specialty,
        "urgency": record.facts.urgency if record.facts else None,
        "assignment_id": record.assignment_id,
        "reasons": record.reasons,
        "open_offer": OfferView.of(record, offer) if offer else None,
        "assignment": record.assignment,
        "awaiting_financial_clearance": record.awaiting_clearance,
        "service_level": ServiceLevelView(
            state=level.state(now),
            started_at=level.started_at,
            at_risk_at=level.at_risk_at,
            due_at=level.due_at,
            stopped_at=level.stopped_at,
        )
        if level
        else None,
    }
