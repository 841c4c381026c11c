"""The family's stage, derived from the other services' events whatever their order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.intake.progress import Milestone, derive, facts_of

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def at(hours: int) -> datetime:
    return T0 + timedelta(hours=hours)


def updated(event_id: str, hours: int, present: list[str], missing: list[str]) -> Milestone:
    data = {"required": present + missing, "present": present, "missing": missing}
    return Milestone(event_id, "records.updated", at(hours), facts_of("records.updated", data))


def test_a_new_case_is_submitted_with_nothing_known_missing() -> None:
    progress = derive(T0, [])
    assert progress.stage == "submitted" and progress.missing == []
    assert progress.reached == {"submitted": T0}


def test_the_latest_checklist_says_what_is_missing() -> None:
    later = updated("e2", 2, ["mri-imaging"], ["pathology-report"])
    earlier = updated("e1", 1, [], ["mri-imaging", "pathology-report"])
    progress = derive(T0, [later, earlier])
    assert progress.stage == "gathering-records"
    assert progress.missing == ["pathology-report"]
    assert progress.reached["gathering-records"] == at(1)


def test_records_ready_clears_missing_even_if_an_update_comes_after() -> None:
    ready_data = {"completeness": {"required": ["a"], "present": ["a"], "waived": []}}
    ready = Milestone("e2", "records.ready", at(2), facts_of("records.ready", ready_data))
    stray = updated("e3", 3, [], ["a"])
    progress = derive(T0, [updated("e1", 1, [], ["a"]), ready, stray])
    assert progress.stage == "records-complete" and progress.missing == []


def test_the_furthest_stage_wins_and_the_latest_report_version_shows() -> None:
    milestones = [
        Milestone("r2", "report.issued", at(9), facts_of("report.issued", {"version": 2})),
        Milestone("r1", "report.issued", at(8), facts_of("report.issued", {"version": 1})),
        Milestone("x", "expert.assigned", at(5)),
    ]
    progress = derive(T0, milestones)
    assert progress.stage == "report-issued" and progress.report_version == 2
    assert progress.reached["with-expert"] == at(5)
    assert "records-complete" not in progress.reached


def test_an_open_follow_up_question_is_what_the_family_waits_for() -> None:
    def follow_up(event_id: str, hours: int, open_questions: int) -> Milestone:
        data = {"open_questions": open_questions, "at": at(hours).isoformat()}
        return Milestone(
            event_id, "followup.updated", at(hours), facts_of("followup.updated", data)
        )

    issued = Milestone("e1", "report.issued", at(1), facts_of("report.issued", {"version": 1}))
    asked, answered = follow_up("e2", 2, 1), follow_up("e3", 3, 0)
    assert derive(T0, [issued, asked]).open_follow_ups == 1
    # Whatever order they arrive in, the latest change says how many are open.
    progress = derive(T0, [answered, issued, asked])
    assert (progress.stage, progress.open_follow_ups) == ("report-issued", 0)
