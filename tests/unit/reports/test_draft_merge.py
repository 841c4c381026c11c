"""Autosave merges: a section sent in part keeps the fields the client did not send."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.reports import lifecycle
from services.reports.domain import ReportRecord, Sections
from services.reports.views import DraftUpdate
from tests.unit.reports.factories import LEAD, NOW, complete_sections, opened


def full() -> ReportRecord:
    """A draft with every section filled in, at revision 2."""
    record = opened()
    return lifecycle.save_draft(
        record,
        expert_id=LEAD.expert_id,
        expected_revision=1,
        changes=dict(Sections.model_validate(complete_sections(record))),
        change_summary=None,
        now=NOW,
    )


def autosave(record: ReportRecord, body: dict[str, Any]) -> Sections:
    """What PATCH /cases/{case_id}/report/draft does with a body: the sections saved."""
    assert record.draft is not None
    update = DraftUpdate.model_validate({"revision": record.draft.revision, **body})
    saved = lifecycle.save_draft(
        record,
        expert_id=LEAD.expert_id,
        expected_revision=record.draft.revision,
        changes=update.section_changes(record.draft.sections),
        change_summary=update.change_summary,
        now=NOW,
    )
    assert saved.draft is not None
    return saved.draft.sections


def test_a_diagnosis_field_sent_alone_keeps_the_others() -> None:
    record = full()
    assert record.draft is not None
    before = record.draft.sections
    sections = autosave(record, {"diagnosis": {"proposed_diagnosis": "X"}})
    assert sections.diagnosis.proposed_diagnosis == "X"
    assert sections.diagnosis.original_diagnosis == before.diagnosis.original_diagnosis
    assert sections.diagnosis.discussion == before.diagnosis.discussion
    assert sections.diagnosis.concordance == "refined"
    assert sections.treatment == before.treatment


def test_a_treatment_field_sent_alone_keeps_the_others() -> None:
    record = full()
    assert record.draft is not None
    before = record.draft.sections
    sections = autosave(record, {"treatment": {"recommendations": "Protons."}})
    assert sections.treatment.recommendations == "Protons."
    assert sections.treatment.plan_change == "modified"
    sections = autosave(record, {"treatment": {"plan_change": "changed"}})
    assert sections.treatment.plan_change == "changed"
    assert sections.treatment.recommendations == before.treatment.recommendations


def test_null_clears_a_field_that_may_be_empty() -> None:
    record = full()
    sections = autosave(record, {"diagnosis": {"concordance": None}})
    assert sections.diagnosis.concordance is None
    assert sections.diagnosis.proposed_diagnosis.startswith("Medulloblastoma")
    sections = autosave(record, {"treatment": {"plan_change": None}})
    assert sections.treatment.plan_change is None
    assert sections.treatment.recommendations


def test_null_is_refused_for_a_text_field() -> None:
    with pytest.raises(ValidationError):
        DraftUpdate.model_validate({"revision": 2, "diagnosis": {"discussion": None}})


def test_an_empty_section_changes_nothing_and_lists_still_replace() -> None:
    record = full()
    assert record.draft is not None
    before = record.draft.sections
    sections = autosave(record, {"diagnosis": {}, "follow_up": ["Only this."]})
    assert sections.diagnosis == before.diagnosis
    assert sections.follow_up == ["Only this."]
    assert sections.trials == before.trials


def test_answers_still_merge_by_question_id() -> None:
    record = full()
    assert record.draft is not None
    before = record.draft.sections.answers
    first, *others = before
    sections = autosave(record, {"answers": {first: "Yes."}})
    assert sections.answers[first] == "Yes."
    assert {q: sections.answers[q] for q in others} == {q: before[q] for q in others}
