"""The report's life: draft opened on assignment, autosave with revisions, the signing rules,
versions and amendments, and follow-up questions."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from services.reports import lifecycle
from services.reports.domain import (
    Conflict,
    FollowUpPolicy,
    Forbidden,
    NotFound,
    ReportError,
    ReportRecord,
    Sections,
    TrialOption,
    language_of,
)
from services.reports.i18n import LANGUAGES
from shared.contracts.follow_up_updated import FollowUpUpdated
from shared.contracts.report_issued import StoredObject
from tests.unit.reports.factories import (
    LEAD,
    NOW,
    SURGEON,
    complete_sections,
    expert_assigned,
    opened,
)


def stored(name: str) -> StoredObject:
    return StoredObject(
        bucket="reports", key=name, sha256="a" * 64, size_bytes=10, content_type="x/y"
    )


def written(record: ReportRecord, **overrides: Any) -> ReportRecord:
    """The draft with every section complete, saved by the lead."""
    assert record.draft is not None
    changes = Sections.model_validate(complete_sections(record, **overrides))
    return lifecycle.save_draft(
        record,
        expert_id=LEAD.expert_id,
        expected_revision=record.draft.revision,
        changes=dict(changes),
        change_summary=None,
        now=NOW,
    )


def signed(record: ReportRecord) -> tuple[ReportRecord, Any]:
    plan = lifecycle.plan_signing(
        record, expert_id=LEAD.expert_id, expected_revision=None, languages=LANGUAGES
    )
    return lifecycle.issue(record, plan, html=stored("h"), pdf=stored("p"), issued_at=NOW)


def test_assignment_opens_a_draft_prefilled_from_intake_and_records() -> None:
    record = opened()
    assert record.status == "draft"
    assert record.draft is not None and record.draft.revision == 1
    sections = record.draft.sections
    assert sections.diagnosis.original_diagnosis == "Medulloblastoma, WNT-activated (M0)"
    assert [(x.item, x.problem) for x in sections.records_limitations] == [
        ("csf-cytology", "missing")
    ]
    assert record.is_lead("ana") and record.is_author("ben") and not record.is_lead("ben")
    assert record.facts is not None and len(record.facts.questions) == 5


def test_a_draft_waits_for_the_assignment_and_a_new_assignment_keeps_the_text() -> None:
    waiting = ReportRecord(case_id="case-0001")
    assert waiting.status == "waiting"
    record = written(opened())
    again = lifecycle.expert_assigned(record, expert_assigned(team=False), NOW)
    assert again.draft == record.draft
    assert not again.is_author("ben")


def test_reassignment_takes_the_report_from_the_expert() -> None:
    record = lifecycle.reassigned(opened(), "ana")
    with pytest.raises(NotFound):
        lifecycle.require_author(record, "ana")
    assert lifecycle.reassigned(opened(), "someone-else").is_author("ana")


def test_autosave_needs_the_current_revision() -> None:
    record = opened()
    saved = lifecycle.save_draft(
        record,
        expert_id="ben",
        expected_revision=1,
        changes={"summary": "first"},
        change_summary=None,
        now=NOW,
    )
    assert saved.draft is not None and saved.draft.revision == 2
    with pytest.raises(Conflict) as stale:
        lifecycle.save_draft(
            saved,
            expert_id="ana",
            expected_revision=1,
            changes={"summary": "overwrites ben"},
            change_summary=None,
            now=NOW,
        )
    assert stale.value.code == "stale_revision" and stale.value.extra["current_revision"] == 2
    assert saved.draft.sections.summary == "first"


def test_autosave_refuses_answers_to_questions_the_family_did_not_ask() -> None:
    with pytest.raises(ReportError) as refused:
        lifecycle.save_draft(
            opened(),
            expert_id="ana",
            expected_revision=1,
            changes={"answers": {"q9": "yes"}},
            change_summary=None,
            now=NOW,
        )
    assert refused.value.field == "answers.q9"


def test_a_stranger_cannot_write() -> None:
    with pytest.raises(NotFound):
        lifecycle.save_draft(
            opened(),
            expert_id="mallory",
            expected_revision=1,
            changes={},
            change_summary=None,
            now=NOW,
        )


@pytest.mark.parametrize("bad", ["NCT1234567", "NCT123456789", "12345678", "NCTABCDEFGH", ""])
def test_trial_ids_are_nct_and_eight_digits(bad: str) -> None:
    with pytest.raises(ValidationError) as invalid:
        TrialOption(nct_id=bad)
    assert invalid.value.errors()[0]["loc"] == ("nct_id",)
    assert TrialOption(nct_id=" nct02724579 ").nct_id == "NCT02724579"


def test_signing_is_refused_while_a_question_is_unanswered_and_names_it() -> None:
    record = written(opened())
    assert record.draft is not None
    answers = dict(record.draft.sections.answers)
    answers["q3"] = "  "
    del answers["q5"]
    record = written(opened(), answers=answers)
    with pytest.raises(ReportError) as refused:
        signed(record)
    assert refused.value.code == "unanswered_questions"
    assert refused.value.extra["unanswered"] == ["q3", "q5"]
    assert "q3" in refused.value.message and "craniospinal" in refused.value.message
    assert refused.value.field == "answers.q3"


def test_signing_needs_every_section_and_only_the_lead_signs() -> None:
    incomplete = written(opened(), diagnosis={"concordance": "changed", "original_diagnosis": "x"})
    with pytest.raises(ReportError) as refused:
        signed(incomplete)
    assert refused.value.code == "incomplete_report"
    assert refused.value.field == "diagnosis.proposed_diagnosis"
    with pytest.raises(Forbidden):
        lifecycle.plan_signing(
            written(opened()), expert_id="ben", expected_revision=None, languages=LANGUAGES
        )


def test_signing_issues_version_one_with_its_event() -> None:
    after, event = signed(written(opened(language="es-MX")))
    assert after.status == "issued" and after.draft is None
    assert event.version == 1 and event.amends_version is None
    assert (event.concordance, event.treatment_change) == ("refined", "modified")
    assert event.language == "es"
    assert event.recipients == ["guardian", "referring-physician"]
    assert event.report_id == "rpt-case-0001"
    assert after.latest is not None and after.latest.co_authors == [SURGEON]


def test_issue_refuses_a_draft_that_moved_on_after_the_plan() -> None:
    record = written(opened())
    plan = lifecycle.plan_signing(
        record, expert_id="ana", expected_revision=None, languages=LANGUAGES
    )
    assert record.draft is not None
    moved = lifecycle.save_draft(
        record,
        expert_id="ben",
        expected_revision=record.draft.revision,
        changes={"summary": "late edit"},
        change_summary=None,
        now=NOW,
    )
    with pytest.raises(Conflict):
        lifecycle.issue(moved, plan, html=stored("h"), pdf=stored("p"), issued_at=NOW)


def test_an_amendment_is_the_next_version_and_must_say_what_changed() -> None:
    issued, _ = signed(written(opened()))
    with pytest.raises(Conflict):
        lifecycle.require_draft(issued)
    amending = lifecycle.open_amendment(issued, expert_id="ana", now=NOW)
    assert amending.status == "amending"
    with pytest.raises(Conflict):
        lifecycle.open_amendment(amending, expert_id="ana", now=NOW)
    with pytest.raises(ReportError) as refused:
        signed(amending)
    assert refused.value.field == "change_summary"
    assert amending.draft is not None
    summarised = lifecycle.save_draft(
        amending,
        expert_id="ana",
        expected_revision=amending.draft.revision,
        changes={},
        change_summary="Added the CSF cytology result.",
        now=NOW,
    )
    after, event = signed(summarised)
    assert [v.version for v in after.versions] == [1, 2]
    assert event.version == 2 and event.amends_version == 1
    assert event.change_summary == "Added the CSF cytology result."
    assert after.versions[0] == issued.versions[0]  # version 1 is never changed


def test_follow_up_questions_come_after_the_report_and_reach_the_next_version() -> None:
    with pytest.raises(NotFound):
        ask(opened(), "fu-1", "?")
    issued, _ = signed(written(opened()))
    asked, event = ask(issued, "fu-1", "Can she swim?")
    assert (event.change, event.asked_by_role, event.open_questions) == ("asked", "guardian", 1)
    assert event.expert_ids == ["ana", "ben"]  # who answers: the authors, lead first
    with pytest.raises(NotFound):
        lifecycle.answer_follow_up(
            asked, expert_id="mallory", follow_up_id="fu-1", answer="no", now=NOW
        )
    answered, event = lifecycle.answer_follow_up(
        asked, expert_id="ben", follow_up_id="fu-1", answer="Yes, after healing.", now=NOW
    )
    assert (event.change, event.open_questions) == ("answered", 0)
    with pytest.raises(Conflict) as again:
        lifecycle.answer_follow_up(
            answered, expert_id="ben", follow_up_id="fu-1", answer="Twice", now=NOW
        )
    assert again.value.code == "follow_up_answered"
    assert answered.follow_ups[0].answer == "Yes, after healing."
    amending = lifecycle.open_amendment(answered, expert_id="ana", now=NOW)
    assert amending.draft is not None
    amending = lifecycle.save_draft(
        amending,
        expert_id="ana",
        expected_revision=amending.draft.revision,
        changes={},
        change_summary="Answered a follow-up question.",
        now=NOW,
    )
    after, _ = signed(amending)
    assert after.latest is not None
    assert [f.follow_up_id for f in after.latest.follow_ups] == ["fu-1"]


@pytest.mark.parametrize(
    ("preferred", "expected"),
    [("es", "es"), ("es-MX", "es"), ("en-GB", "en"), ("fr-CA", "fr"), ("de", "en")],
)
def test_the_family_language_falls_back_to_english(preferred: str, expected: str) -> None:
    assert language_of(preferred, LANGUAGES) == expected


PROGRAM = FollowUpPolicy()


def ask(
    record: ReportRecord,
    follow_up_id: str,
    question: str,
    *,
    now: datetime = NOW,
    policy: FollowUpPolicy = PROGRAM,
) -> tuple[ReportRecord, FollowUpUpdated]:
    return lifecycle.ask_follow_up(
        record,
        follow_up_id=follow_up_id,
        role="guardian",
        question=question,
        now=now,
        policy=policy,
    )


def test_the_program_sets_how_many_questions_and_for_how_long() -> None:
    issued, _ = signed(written(opened()))
    policy = FollowUpPolicy(per_case=2, window_days=30)
    record, _ = ask(issued, "fu-1", "One?", policy=policy)
    record, _ = ask(record, "fu-2", "Two?", policy=policy)
    with pytest.raises(Conflict) as limit:
        ask(record, "fu-3", "Three?", policy=policy)
    assert limit.value.code == "follow_up_limit" and "2 follow-up" in limit.value.message
    assert issued.latest is not None
    late = issued.latest.issued_at + timedelta(days=30, seconds=1)
    with pytest.raises(Conflict) as window:
        ask(issued, "fu-4", "Late?", now=late, policy=policy)
    assert window.value.code == "follow_up_window_closed"


def test_a_question_is_closed_without_an_answer_once() -> None:
    issued, _ = signed(written(opened()))
    record, _ = ask(issued, "fu-1", "Can we talk by phone?")
    record, _ = ask(record, "fu-2", "And school?")
    closed, event = lifecycle.close_follow_up(
        record, follow_up_id="fu-1", by_role="intake-staff", reason="answered-elsewhere", now=NOW
    )
    assert (event.change, event.close_reason, event.open_questions) == (
        "closed",
        "answered-elsewhere",
        1,
    )
    assert not closed.follow_ups[0].is_open and closed.follow_ups[1].is_open
    with pytest.raises(Conflict) as again:
        lifecycle.answer_follow_up(
            closed, expert_id="ana", follow_up_id="fu-1", answer="Late.", now=NOW
        )
    assert again.value.code == "follow_up_closed"
