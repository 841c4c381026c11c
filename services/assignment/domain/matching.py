"""Matching: rank the experts and boards who may take a case, and say why.

Ranking, best first: specialty fit (primary before secondary), how many subspecialty keywords
occur in the working diagnosis, whether the lead speaks the family's language, a board whose
remit covers the diagnosis before a single expert, lower load against capacity, least recently
assigned, then the id so that ties always break the same way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from services.assignment.domain.errors import Invalid
from services.assignment.domain.roster import Board, Expert

CONFLICT = "same institution as the referring physician"
AT_CAPACITY = "at capacity"
ALREADY_TRIED = "declined or did not answer"
NEEDS_TRIAGE = "specialty needs triage"


def expert_key(expert_id: str) -> str:
    return f"expert:{expert_id}"


def board_key(board_id: str) -> str:
    return f"board:{board_id}"


@dataclass(frozen=True)
class MatchRequest:
    """What matching needs to know about a case (never who the child is)."""

    specialty: str
    language: str
    referring_organization: str
    working_diagnosis: str
    offered_on: date
    due_on: date
    excluded_keys: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RosterSnapshot:
    """The roster and, from the cases collection, each expert's load and last assignment."""

    experts: Mapping[str, Expert]
    boards: Sequence[Board] = ()
    loads: Mapping[str, int] = field(default_factory=dict)
    last_assigned: Mapping[str, datetime] = field(default_factory=dict)


@dataclass(frozen=True)
class Candidate:
    key: str
    lead: Expert
    team: tuple[Expert, ...]
    board: Board | None
    reasons: tuple[str, ...]
    rank_key: tuple[object, ...]


@dataclass(frozen=True)
class Ranking:
    candidates: tuple[Candidate, ...]
    exclusions: Mapping[str, int]

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    def explain_choice(self) -> list[str]:
        """Why the best candidate was chosen: its own reasons, then what the field looked like."""
        best = self.best
        if best is None:
            return self.explain_nobody()
        return [
            *best.reasons,
            f"ranked 1 of {len(self.candidates)} eligible",
            *_excluded_summary(self.exclusions),
        ]

    def explain_nobody(self) -> list[str]:
        if NEEDS_TRIAGE in self.exclusions:
            return [NEEDS_TRIAGE]
        return ["no eligible expert or board left", *_excluded_summary(self.exclusions)]


def candidate_keys(request: MatchRequest, roster: RosterSnapshot) -> list[str]:
    """Keys of everyone whose specialty fits, for fetching their fairness data first."""
    keys = [
        expert_key(e.expert_id)
        for e in roster.experts.values()
        if e.specialty_fit(request.specialty) and not e.board_only
    ]
    keys.extend(board_key(b.board_id) for b in roster.boards if b.specialty == request.specialty)
    return keys


def rank_candidates(request: MatchRequest, roster: RosterSnapshot) -> Ranking:
    """Every eligible expert and board for the case, best first, with counted exclusions."""
    if request.specialty == "not-sure":
        return Ranking((), {NEEDS_TRIAGE: 1})
    exclusions: Counter[str] = Counter()
    candidates: list[Candidate] = []
    for expert in sorted(roster.experts.values(), key=lambda e: e.expert_id):
        if not expert.specialty_fit(request.specialty) or expert.board_only:
            continue
        problem = _problem(expert, request, roster)
        if problem is None and expert_key(expert.expert_id) in request.excluded_keys:
            problem = ALREADY_TRIED
        if problem:
            exclusions[problem] += 1
        else:
            candidates.append(_expert_candidate(expert, request, roster))
    for board in sorted(roster.boards, key=lambda b: b.board_id):
        if board.specialty != request.specialty or not board.diagnosis_fit(
            request.working_diagnosis
        ):
            continue  # boards are matched only to the diagnoses in their remit
        board_problem = _board_problem(board, request, roster)
        if board_problem:
            exclusions[board_problem] += 1
        else:
            candidates.append(_board_candidate(board, request, roster))
    candidates.sort(key=lambda c: c.rank_key)
    return Ranking(tuple(candidates), dict(exclusions))


def chosen_candidate(
    request: MatchRequest,
    roster: RosterSnapshot,
    *,
    expert_id: str | None = None,
    board_id: str | None = None,
) -> Candidate:
    """The expert or board staff chose, with warnings where matching would have passed them by
    (conflicts of interest are refused by the offer state machine, not here)."""
    if board_id is not None:
        board = next((b for b in roster.boards if b.board_id == board_id), None)
        if board is None:
            raise Invalid(
                "unknown_board", f"board_id: no board {board_id} in the roster", "board_id"
            )
        missing = [m for m in board.team_ids() if m not in roster.experts]
        if missing:
            raise Invalid(
                "unknown_expert", f"board_id: member {missing[0]} is not in the roster", "board_id"
            )
        candidate = _board_candidate(board, request, roster)
        problems = [_problem(m, request, roster) for m in candidate.team]
    else:
        expert = roster.experts.get(expert_id or "")
        if expert is None:
            raise Invalid(
                "unknown_expert", f"expert_id: no expert {expert_id} in the roster", "expert_id"
            )
        candidate = _expert_candidate(expert, request, roster)
        problems = [_problem(expert, request, roster)]
        if not expert.specialty_fit(request.specialty):
            problems.append(f"specialty is {expert.specialty}, not {request.specialty}")
        if expert.board_only:
            problems.append("usually reviews only as a board member")
    warnings = tuple(f"warning: {p}" for p in dict.fromkeys(problems) if p and p != CONFLICT)
    return replace(candidate, reasons=candidate.reasons + warnings)


def check_conflict(team: Iterable[Expert], organization: str) -> str | None:
    """The id of the first team member from the referring physician's institution, if any."""
    return next((e.expert_id for e in team if e.is_affiliated_with(organization)), None)


def _problem(expert: Expert, request: MatchRequest, roster: RosterSnapshot) -> str | None:
    if expert.is_affiliated_with(request.referring_organization):
        return CONFLICT
    away = expert.unavailable_reason(request.offered_on, request.due_on)
    if away:
        return away
    if roster.loads.get(expert.expert_id, 0) >= expert.capacity:
        return AT_CAPACITY
    return None


def _board_problem(board: Board, request: MatchRequest, roster: RosterSnapshot) -> str | None:
    if board_key(board.board_id) in request.excluded_keys:
        return f"board {ALREADY_TRIED}"
    if not board.active:
        return "board inactive"
    for member_id in board.team_ids():
        member = roster.experts.get(member_id)
        if member is None:
            return "board member missing from the roster"
        problem = _problem(member, request, roster)
        if problem:
            return f"board member {problem}"
    return None


def _expert_candidate(expert: Expert, request: MatchRequest, roster: RosterSnapshot) -> Candidate:
    key = expert_key(expert.expert_id)
    fit = expert.specialty_fit(request.specialty)
    keywords = expert.diagnosis_fit(request.working_diagnosis)
    speaks = expert.speaks(request.language)
    load = roster.loads.get(expert.expert_id, 0)
    last = roster.last_assigned.get(key)
    reasons = (
        f"specialty {request.specialty}" + (" (primary)" if fit == 2 else " (secondary)"),
        _keyword_reason(keywords),
        _language_reason(speaks, request.language),
        f"load {load} of {expert.capacity} open cases",
        _fairness_reason(last),
    )
    rank_key = _rank_key(fit, keywords, speaks, False, _ratio(load, expert.capacity), last, key)
    return Candidate(key, expert, (), None, reasons, rank_key)


def _board_candidate(board: Board, request: MatchRequest, roster: RosterSnapshot) -> Candidate:
    key = board_key(board.board_id)
    team = tuple(roster.experts[m] for m in board.team_ids())
    lead = team[0]
    keywords = board.diagnosis_fit(request.working_diagnosis)
    speaks = lead.speaks(request.language)
    busiest = max(_ratio(roster.loads.get(m.expert_id, 0), m.capacity) for m in team)
    last = roster.last_assigned.get(key)
    reasons = (
        f"board {board.board_id} ({len(team)} members) for {request.specialty}, lead "
        f"{lead.expert_id}",
        _keyword_reason(keywords),
        _language_reason(speaks, request.language),
        f"busiest member at {busiest:.0%} of capacity",
        _fairness_reason(last),
    )
    rank_key = _rank_key(2, keywords, speaks, True, busiest, last, key)
    return Candidate(key, lead, team, board, reasons, rank_key)


def _rank_key(
    specialty_fit: int,
    keywords: list[str],
    speaks: bool,
    is_board: bool,
    load_ratio: float,
    last_assigned: datetime | None,
    key: str,
) -> tuple[object, ...]:
    # Ascending sort: negate what is better when larger; never assigned sorts first.
    last = last_assigned.timestamp() if last_assigned else float("-inf")
    return (-specialty_fit, -len(keywords), not speaks, not is_board, load_ratio, last, key)


def _ratio(load: int, capacity: int) -> float:
    return load / capacity if capacity else float("inf")


def _keyword_reason(keywords: list[str]) -> str:
    if not keywords:
        return "no subspecialty keyword in the working diagnosis"
    return "diagnosis fits: " + ", ".join(keywords)


def _language_reason(speaks: bool, language: str) -> str:
    return f"speaks the family's language ({language})" if speaks else f"does not speak {language}"


def _fairness_reason(last: datetime | None) -> str:
    return f"last assigned {last.date().isoformat()}" if last else "no case assigned yet"


def _excluded_summary(exclusions: Mapping[str, int]) -> list[str]:
    return [f"excluded {count}: {reason}" for reason, count in sorted(exclusions.items())]
