"""The intake rules: what a submission must satisfy, staff changes, and the list's filter."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.intake import domain
from services.intake.domain import CaseFilter, CaseRecord, DomainError
from shared.contracts.common import Actor
from tests.support import sample_case

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
STAFF = Actor(subject="staff-1", role="intake-staff")


def record(**changes: object) -> CaseRecord:
    return CaseRecord.new(sample_case("case-1", **changes), at=NOW)


def refusal(**changes: object) -> tuple[str, str | None]:
    with pytest.raises(DomainError) as refused:
        domain.check_submission(
            sample_case(**changes), now=NOW, consent_versions=frozenset({"2026-01"})
        )
    return refused.value.code, refused.value.field


def born(value: date) -> object:
    return sample_case().patient.model_copy(update={"date_of_birth": value})


def test_a_valid_submission_passes() -> None:
    domain.check_submission(sample_case(), now=NOW, consent_versions=frozenset({"2026-01"}))


def test_submission_rules_name_the_field() -> None:
    assert refusal(patient=born(date(2027, 1, 1))) == ("date_in_future", "patient.date_of_birth")
    assert refusal(patient=born(date(2000, 1, 1))) == ("not_pediatric", "patient.date_of_birth")
    late = sample_case().consent.model_copy(update={"given_at": NOW + timedelta(hours=1)})
    assert refusal(consent=late) == ("date_in_future", "consent.given_at")
    old_text = sample_case().consent.model_copy(update={"text_version": "2019-01"})
    assert refusal(consent=old_text) == ("unknown_consent_version", "consent.text_version")


def test_a_hospital_is_held_to_the_consent_texts_we_show_too() -> None:
    own_text = sample_case().consent.model_copy(update={"text_version": "valley-v3"})
    hospital = sample_case(consent=own_text, submitted_via="hospital-system")
    with pytest.raises(DomainError) as refused:
        domain.check_submission(hospital, now=NOW, consent_versions=frozenset({"2026-01"}))
    assert (refused.value.code, refused.value.field) == (
        "unknown_consent_version",
        "consent.text_version",
    )


def test_ages_count_whole_years_up_to_the_last_birthday() -> None:
    assert domain.age_in_years(date(2016, 11, 24), date(2026, 11, 23)) == 9
    assert domain.age_in_years(date(2016, 11, 23), date(2026, 11, 23)) == 10
    assert domain.age_in_years(date(2005, 11, 23), date(2026, 11, 23)) == 21  # still accepted


def test_triage_chooses_a_real_specialty() -> None:
    case = record(specialty="not-sure")
    changed = domain.triage(case, "cardiology", actor=STAFF, reason=None, at=NOW)
    assert changed.record.specialty == "cardiology"
    assert changed.record.submission.specialty == "not-sure"  # what the family asked stays
    assert changed.event.change == "triaged" and changed.event.specialty == "cardiology"
    with pytest.raises(DomainError, match="choose"):
        domain.triage(case, "not-sure", actor=STAFF, reason=None, at=NOW)
    with pytest.raises(DomainError) as same:
        domain.triage(changed.record, "cardiology", actor=STAFF, reason=None, at=NOW)
    assert same.value.code == "unchanged"


def test_hold_resume_cancel_follow_the_status() -> None:
    case = record()
    held = domain.put_on_hold(case, actor=STAFF, reason="waiting", at=NOW).record
    assert held.status == "on-hold"
    with pytest.raises(DomainError) as again:
        domain.put_on_hold(held, actor=STAFF, reason="again", at=NOW)
    assert again.value.code == "invalid_transition"
    with pytest.raises(DomainError):
        domain.resume(case, actor=STAFF, reason=None, at=NOW)
    resumed = domain.resume(held, actor=STAFF, reason=None, at=NOW)
    assert resumed.record.status == "open" and resumed.event.change == "resumed"
    cancelled = domain.cancel(held, actor=STAFF, reason="withdrawn", at=NOW)
    assert cancelled.event.status == "cancelled" and cancelled.event.reason == "withdrawn"
    for change in (
        lambda r: domain.cancel(r, actor=STAFF, reason="x", at=NOW),
        lambda r: domain.triage(r, "genetics", actor=STAFF, reason=None, at=NOW),
    ):
        with pytest.raises(DomainError) as closed:
            change(cancelled.record)
        assert closed.value.code == "case_closed"
    assert [h.change for h in cancelled.record.history] == ["put-on-hold", "cancelled"]


def test_a_note_is_kept_here_and_the_event_only_says_one_was_added() -> None:
    text = "Mother says the MRI CD is at the other hospital"
    changed = domain.add_note(
        record(), note_id="n-1", text=text, channel="phone", actor=STAFF, at=NOW
    )
    assert changed.record.notes[0].text == text
    assert changed.event.change == "note-added"
    assert "MRI" not in (changed.event.reason or "")


@pytest.mark.parametrize(
    ("case_filter", "ages_listed"),
    [
        (CaseFilter.of(age_band="infant"), [0]),
        (CaseFilter.of(age_band="toddler"), [1, 3]),
        (CaseFilter.of(age_band="child"), [4, 12]),
        (CaseFilter.of(age_band="adolescent"), [13, 17]),
        (CaseFilter.of(age_band="young-adult"), [18, 21]),
        (CaseFilter.of(min_age=3, max_age=13), [3, 4, 12, 13]),
        (CaseFilter.of(age_band="child", min_age=10), [12]),
    ],
)
def test_age_filters_in_years_and_bands(case_filter: CaseFilter, ages_listed: list[int]) -> None:
    today = NOW.date()
    ages = [0, 1, 3, 4, 12, 13, 17, 18, 21]
    cases = {age: record(patient=born(date(today.year - age, 1, 1))) for age in ages}
    assert [age for age, case in cases.items() if case_filter.matches(case, today)] == ages_listed
    # The store's date range agrees with the rule.
    earliest, latest = case_filter.birth_date_range(today)
    for age, case in cases.items():
        dob = case.submission.patient.date_of_birth
        in_range = (earliest is None or dob > earliest) and (latest is None or dob <= latest)
        assert in_range == (age in ages_listed), age


def test_filters_by_status_specialty_and_urgency() -> None:
    today = NOW.date()
    urgent = record(urgency="urgent", specialty="cardiology")
    assert CaseFilter.of(urgencies=("urgent",)).matches(urgent, today)
    assert not CaseFilter.of(urgencies=("routine",)).matches(urgent, today)
    assert CaseFilter.of(specialties=("cardiology", "genetics")).matches(urgent, today)
    assert not CaseFilter.of(statuses=("on-hold",)).matches(urgent, today)
    with pytest.raises(DomainError) as empty:
        CaseFilter.of(min_age=10, max_age=5)
    assert empty.value.field == "min_age"
