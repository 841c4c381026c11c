"""Small builders for the assignment domain tests: sensible defaults, override what matters."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.assignment.domain.cases import CaseFacts, CaseRecord
from services.assignment.domain.matching import MatchRequest, RosterSnapshot
from services.assignment.domain.roster import Board, Expert
from services.assignment.domain.service_levels import ServiceLevelPolicy
from services.assignment.domain.transitions import OfferTerms

# A Monday.
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def expert(expert_id: str, **changes: Any) -> Expert:
    fields: dict[str, Any] = {
        "expert_id": expert_id,
        "display_name": f"Dr. {expert_id.title()}",
        "specialty": "neuro-oncology",
        "subspecialties": [],
        "languages": ["en"],
        "institution": f"{expert_id} Children's Hospital",
        "capacity": 3,
    }
    fields.update(changes)
    return Expert.model_validate(fields)


def board(board_id: str, lead: str, members: list[str], **changes: Any) -> Board:
    fields: dict[str, Any] = {
        "board_id": board_id,
        "name": f"{board_id} board",
        "specialty": "neuro-oncology",
        "keywords": ["medulloblastoma"],
        "lead_expert_id": lead,
        "member_expert_ids": members,
    }
    fields.update(changes)
    return Board.model_validate(fields)


def request(**changes: Any) -> MatchRequest:
    fields: dict[str, Any] = {
        "specialty": "neuro-oncology",
        "language": "en",
        "referring_organization": "Valley Pediatrics",
        "working_diagnosis": "Medulloblastoma, WNT-activated",
        "offered_on": date(2026, 3, 2),
        "due_on": date(2026, 3, 11),
    }
    fields.update(changes)
    return MatchRequest(**fields)


def roster(*experts: Expert, boards: tuple[Board, ...] = (), **changes: Any) -> RosterSnapshot:
    return RosterSnapshot(experts={e.expert_id: e for e in experts}, boards=boards, **changes)


def facts(**changes: Any) -> CaseFacts:
    fields: dict[str, Any] = {
        "specialty": "neuro-oncology",
        "urgency": "routine",
        "language": "es",
        "referring_organization": "Valley Pediatrics",
        "working_diagnosis": "Medulloblastoma, WNT-activated",
    }
    fields.update(changes)
    return CaseFacts.model_validate(fields)


def ready_record(case_id: str = "case-1", **changes: Any) -> CaseRecord:
    """A case whose submission and records are both in, not yet settled."""
    fields: dict[str, Any] = {
        "case_id": case_id,
        "facts": facts(),
        "records_ready_at": NOW,
    }
    fields.update(changes)
    return CaseRecord.model_validate(fields)


_ids = itertools.count(1)


def terms(now: datetime = NOW, timeout: timedelta = timedelta(hours=24)) -> OfferTerms:
    return OfferTerms(now=now, timeout=timeout, new_id=lambda: f"id-{next(_ids)}")


POLICY = ServiceLevelPolicy()
