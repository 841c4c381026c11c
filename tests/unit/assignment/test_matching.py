"""Matching ranks eligible experts and boards deterministically and says why."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.assignment.domain.errors import Invalid
from services.assignment.domain.matching import RosterSnapshot, chosen_candidate, rank_candidates
from services.assignment.domain.roster import DateRange
from tests.unit.assignment.factories import board, expert, request, roster


def ranked_keys(snapshot: RosterSnapshot) -> list[str]:
    return [c.key for c in rank_candidates(request(), snapshot).candidates]


def test_primary_specialty_ranks_before_secondary_and_others_are_not_candidates() -> None:
    snapshot = roster(
        expert("surgeon", specialty="neurosurgery", other_specialties=["neuro-oncology"]),
        expert("onco", specialty="neuro-oncology"),
        expert("heart", specialty="cardiology"),
    )
    ranking = rank_candidates(request(), snapshot)
    assert [c.key for c in ranking.candidates] == ["expert:onco", "expert:surgeon"]
    assert "specialty neuro-oncology (primary)" in ranking.candidates[0].reasons
    assert "specialty neuro-oncology (secondary)" in ranking.candidates[1].reasons


def test_subspecialty_keywords_in_the_diagnosis_rank_higher_and_are_named() -> None:
    snapshot = roster(
        expert("a-generalist"),
        expert("b-glioma", subspecialties=["glioma"]),
        expert("c-medullo", subspecialties=["Medulloblastoma", "WNT-activated", "ependymoma"]),
    )
    ranking = rank_candidates(request(), snapshot)
    assert ranking.candidates[0].key == "expert:c-medullo"
    assert "diagnosis fits: Medulloblastoma, WNT-activated" in ranking.candidates[0].reasons


def test_keywords_match_whole_words_only() -> None:
    snapshot = roster(
        expert("glioma", subspecialties=["glioma"]), expert("all", subspecialties=["ALL"])
    )
    req = request(working_diagnosis="Ganglioglioma, small residual")
    assert all(c.rank_key[1] == 0 for c in rank_candidates(req, snapshot).candidates)


def test_a_speaker_of_the_familys_language_ranks_first_and_regional_tags_match() -> None:
    snapshot = roster(expert("a-english"), expert("b-spanish", languages=["en", "es"]))
    ranking = rank_candidates(request(language="es-MX"), snapshot)
    assert [c.key for c in ranking.candidates] == ["expert:b-spanish", "expert:a-english"]
    assert "speaks the family's language (es-MX)" in ranking.candidates[0].reasons
    assert "does not speak es-MX" in ranking.candidates[1].reasons


def test_the_referring_physicians_institution_is_a_conflict_of_interest() -> None:
    snapshot = roster(
        expert("same", institution="Valley Pediatrics"),
        expert("affiliated", affiliations=["valley  pediatrics."]),
        expert("free"),
    )
    ranking = rank_candidates(request(), snapshot)
    assert [c.key for c in ranking.candidates] == ["expert:free"]
    assert ranking.exclusions == {"same institution as the referring physician": 2}
    assert "excluded 2: same institution as the referring physician" in ranking.explain_choice()


@pytest.mark.parametrize(
    ("leave", "eligible"),
    [
        (DateRange(start=date(2026, 2, 20), end=date(2026, 3, 2)), False),  # back after today
        (DateRange(start=date(2026, 3, 10), end=date(2026, 3, 20)), False),  # leaves before due
        (DateRange(start=date(2026, 3, 12), end=date(2026, 3, 20)), True),  # leaves after due
        (DateRange(start=date(2026, 2, 1), end=date(2026, 3, 1)), True),  # back yesterday
    ],
)
def test_anyone_on_leave_before_the_due_date_is_excluded(leave: DateRange, eligible: bool) -> None:
    snapshot = roster(expert("away", leave=[leave]))
    ranking = rank_candidates(request(), snapshot)
    assert bool(ranking.candidates) is eligible
    if not eligible:
        assert ranking.exclusions == {"on leave before the due date": 1}


def test_availability_windows_limit_when_an_expert_takes_cases() -> None:
    window = DateRange(start=date(2026, 4, 1), end=date(2026, 6, 30))
    snapshot = roster(expert("spring", availability=[window]), expert("inactive", active=False))
    ranking = rank_candidates(request(), snapshot)
    assert ranking.best is None
    assert ranking.exclusions == {"outside availability window": 1, "inactive": 1}


def test_experts_at_capacity_are_excluded_and_lower_load_ranks_first() -> None:
    snapshot = roster(
        expert("full", capacity=2),
        expert("half", capacity=4),
        expert("quarter", capacity=4),
        expert("none", capacity=0),
        loads={"full": 2, "half": 2, "quarter": 1},
    )
    ranking = rank_candidates(request(), snapshot)
    assert [c.key for c in ranking.candidates] == ["expert:quarter", "expert:half"]
    assert ranking.exclusions == {"at capacity": 2}
    assert "load 1 of 4 open cases" in ranking.candidates[0].reasons


def test_fairness_the_least_recently_assigned_goes_first_and_never_assigned_before_all() -> None:
    snapshot = roster(
        expert("recent"),
        expert("older"),
        expert("never"),
        last_assigned={
            "expert:recent": datetime(2026, 3, 1, tzinfo=UTC),
            "expert:older": datetime(2026, 1, 5, tzinfo=UTC),
        },
    )
    ranking = rank_candidates(request(), snapshot)
    assert [c.key for c in ranking.candidates] == ["expert:never", "expert:older", "expert:recent"]
    assert "last assigned 2026-01-05" in ranking.candidates[1].reasons


def test_ties_break_by_id_whatever_the_roster_order() -> None:
    names = ["m", "c", "x", "a"]
    forward = ranked_keys(roster(*(expert(n) for n in names)))
    backward = ranked_keys(roster(*(expert(n) for n in reversed(names))))
    assert forward == backward == ["expert:a", "expert:c", "expert:m", "expert:x"]


def test_candidates_already_tried_in_this_round_are_skipped() -> None:
    snapshot = roster(expert("a"), expert("b"))
    ranking = rank_candidates(request(excluded_keys=frozenset({"expert:a"})), snapshot)
    assert [c.key for c in ranking.candidates] == ["expert:b"]
    assert ranking.exclusions == {"declined or did not answer": 1}


def test_a_board_whose_remit_covers_the_diagnosis_is_preferred_and_takes_its_whole_team() -> None:
    team = [
        expert("lead", subspecialties=["medulloblastoma"], languages=["es"]),
        expert("surgeon", specialty="neurosurgery"),
        expert("radiology", board_only=True),
    ]
    snapshot = roster(
        *team,
        expert("solo", subspecialties=["medulloblastoma"], languages=["es"]),
        boards=(board("tumor", "lead", ["surgeon", "radiology"]),),
    )
    ranking = rank_candidates(request(language="es"), snapshot)
    best = ranking.best
    assert best is not None and best.board is not None
    assert best.key == "board:tumor"
    assert [m.expert_id for m in best.team] == ["lead", "surgeon", "radiology"]
    assert best.lead.expert_id == "lead"
    # The board-only radiologist is never offered a case alone.
    assert "expert:radiology" not in [c.key for c in ranking.candidates]


def test_a_board_is_not_a_candidate_outside_its_remit_or_when_a_member_cannot_take_it() -> None:
    members = [expert("lead"), expert("member")]
    tumor = board("tumor", "lead", ["member"])
    outside = rank_candidates(
        request(working_diagnosis="Low-grade glioma"), roster(*members, boards=(tumor,))
    )
    assert "board:tumor" not in [c.key for c in outside.candidates]

    conflicted = [expert("lead"), expert("member", institution="Valley Pediatrics")]
    ranking = rank_candidates(request(), roster(*conflicted, boards=(tumor,)))
    assert [c.key for c in ranking.candidates] == ["expert:lead"]
    assert ranking.exclusions["board member same institution as the referring physician"] == 1

    busy = rank_candidates(request(), roster(*members, boards=(tumor,), loads={"member": 3}))
    assert "board:tumor" not in [c.key for c in busy.candidates]


def test_not_sure_is_never_matched_automatically() -> None:
    ranking = rank_candidates(request(specialty="not-sure"), roster(expert("a")))
    assert ranking.best is None
    assert ranking.explain_nobody() == ["specialty needs triage"]


def test_nobody_left_is_explained_with_counts() -> None:
    snapshot = roster(expert("a"), expert("b", institution="Valley Pediatrics"), loads={"a": 3})
    assert rank_candidates(request(), snapshot).explain_nobody() == [
        "no eligible expert or board left",
        "excluded 1: at capacity",
        "excluded 1: same institution as the referring physician",
    ]


def test_a_staff_choice_carries_warnings_where_matching_would_have_passed_it_by() -> None:
    snapshot = roster(expert("busy", specialty="oncology"), loads={"busy": 3})
    chosen = chosen_candidate(request(), snapshot, expert_id="busy")
    assert "warning: at capacity" in chosen.reasons
    assert "warning: specialty is oncology, not neuro-oncology" in chosen.reasons
    with pytest.raises(Invalid) as unknown:
        chosen_candidate(request(), snapshot, expert_id="nobody")
    assert unknown.value.field == "expert_id"
    with pytest.raises(Invalid):
        chosen_candidate(request(), snapshot, board_id="nothing")
