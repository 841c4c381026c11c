"""The stage machine of the board: where a case stands and who it waits on."""

from __future__ import annotations

from datetime import date

from services.notify.domain.facts import age_label, facts_of, initials_of
from services.notify.domain.timeline import derive
from tests.support import sample_event
from tests.unit.notify.events import T0, assigned, change, fact, follow_up, issued, submitted


def test_a_submitted_case_waits_on_the_family_for_records() -> None:
    timeline = derive("case-1", [submitted()])
    assert timeline.stage == "submitted"
    assert timeline.waiting_on.party == "family"
    assert (timeline.initials, timeline.age) == ("A.Q.", "10 y")
    assert timeline.on_board


def test_the_whole_walk_from_submission_to_follow_up() -> None:
    events = [
        submitted(0),
        fact("records.updated", 5, missing=2, required=3),
        fact("records.ready", 60, documents=3, studies=1, identity="match"),
        change(61, "offered", expert_id="ana", expert_name="Dr. Ana", due_at=None),
        assigned(90),
        issued(500),
    ]
    stages = [derive("case-1", events[: n + 1]).stage for n in range(len(events))]
    assert stages == [
        "submitted",
        "gathering-records",
        "awaiting-expert",
        "awaiting-expert",
        "in-review",
        "report-issued",
    ]
    final = derive("case-1", [*events, issued(900, version=2, amends=1)])
    assert final.stage == "follow-up"
    assert final.report_version == 2
    assert [e.title for e in final.entries][-1] == "Amended report v2 issued"


def test_follow_up_questions_open_the_follow_up_column_until_none_is_open() -> None:
    walk = [submitted(0), assigned(90), issued(500)]
    asked = derive("case-1", [*walk, follow_up(600, "asked", 1), follow_up(610, "asked", 2)])
    assert (asked.stage, asked.open_follow_ups) == ("follow-up", 2)
    assert asked.waiting_on.party == "expert"
    assert asked.waiting_on.detail == "2 follow-up question(s)"
    assert asked.entries[-1].title == "Follow-up question from the family asked; 2 open"
    later = [follow_up(700, "answered", 1), follow_up(710, "closed", 0, reason="out-of-scope")]
    done = derive("case-1", [*walk, follow_up(600, "asked", 1), *later])
    assert (done.stage, done.open_follow_ups) == ("report-issued", 0)
    assert done.entries[-1].title == (
        "Follow-up question from the family closed (out of scope); 0 open"
    )


def test_order_of_arrival_does_not_matter_only_event_time() -> None:
    events = [submitted(0), fact("records.ready", 60, documents=1, studies=0, identity="match")]
    events += [assigned(90), fact("records.updated", 5, missing=1, required=2)]
    assert derive("case-1", events) == derive("case-1", list(reversed(events)))
    assert derive("case-1", events).stage == "in-review"


def test_an_open_offer_waits_on_the_expert_and_no_expert_on_staff() -> None:
    base = [submitted(0), fact("records.ready", 1, documents=1, studies=0, identity="match")]
    offered = derive("case-1", [*base, change(2, "offered", expert_id="ben", expert_name="Dr. B")])
    assert offered.waiting_on.party == "expert"
    assert "Dr. B" in offered.waiting_on.detail
    nobody = derive("case-1", [*base, change(2, "no-expert-available")])
    assert nobody.waiting_on.party == "intake-staff"


def test_service_levels_mark_the_card_and_end_met_or_late() -> None:
    base = [submitted(0), assigned(10)]
    at_risk = derive("case-1", [*base, change(20, "service-level-at-risk", expert_id="ana")])
    assert at_risk.service_level.state == "at-risk" and at_risk.attention
    overdue = derive("case-1", [*base, change(30, "service-level-overdue")])
    assert overdue.service_level.state == "overdue"
    assert derive("case-1", [*base, issued(40)]).service_level.state == "met"
    late = derive("case-1", [*base, change(30, "service-level-overdue"), issued(40)])
    assert late.service_level.state == "late"


def test_reassignment_sends_the_case_back_to_awaiting_expert() -> None:
    timeline = derive("case-1", [submitted(0), assigned(10), change(20, "reassigned")])
    assert timeline.stage == "awaiting-expert"
    assert timeline.expert_id is None


def test_cancelled_cases_leave_the_board() -> None:
    cancelled = fact(
        "case.updated", 5, change="cancelled", status="cancelled", specialty="neuro-oncology"
    )
    timeline = derive("case-1", [submitted(0), cancelled])
    assert timeline.status == "cancelled" and not timeline.on_board
    assert timeline.waiting_on.party == "nobody"


def test_facts_keep_initials_and_age_but_no_names_or_birth_date() -> None:
    event = sample_event("case-9")
    facts = facts_of(event.type, event.data, T0)
    flat = repr(facts)
    assert facts["initials"] == "A.Q." and facts["age"] == "10 y"
    for secret in ("Amelia", "Quinterofake", "2016-04-09", "rosa", "Medulloblastoma", "MRN"):
        assert secret not in flat


def test_ages_read_in_months_below_two_years() -> None:
    assert age_label(date(2025, 3, 15), date(2026, 3, 14)) == "11 mo"
    assert age_label(date(2024, 3, 15), date(2026, 3, 15)) == "2 y"
    assert initials_of("josé", "núñez") == "J.N."


def test_a_consult_after_the_report_shows_who_acts_next() -> None:
    from tests.unit.notify.events import consult

    walk = [submitted(0), assigned(90), issued(500)]
    asked = derive("case-1", [*walk, consult(600, "requested")])
    assert (asked.waiting_on.party, asked.waiting_on.detail) == (
        "intake-staff",
        "propose consult times",
    )
    assert asked.entries[-1].title == "Video consult requested by the family"
    proposed = derive("case-1", [*walk, consult(600, "requested"), consult(610, "proposed")])
    assert (proposed.waiting_on.party, proposed.waiting_on.detail) == (
        "family",
        "choose a consult time",
    )
    assert proposed.consult_state == "proposed"
    steps = [consult(600, "requested"), consult(610, "proposed"), consult(620, "confirmed")]
    confirmed = derive("case-1", [*walk, *steps])
    assert confirmed.waiting_on.detail == "video consult on 2026-11-20 16:00 UTC"
    assert confirmed.entries[-1].title == "Video consult confirmed for 2026-11-20 16:00 UTC"
    done = derive("case-1", [*walk, *steps, consult(630, "cancelled", cancel_reason="other")])
    assert done.waiting_on.detail == "report delivered"
    assert done.entries[-1].title == "Video consult cancelled (other)"
