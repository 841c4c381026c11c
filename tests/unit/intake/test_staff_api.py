"""The intake team's routes over HTTP with an in-memory store: answers and their codes."""

from __future__ import annotations

from services.intake.progress import Milestone
from tests.unit.intake.conftest import FastIntake
from tests.unit.intake.samples import form


async def test_staff_changes_answer_with_the_case_and_refuse_what_the_rules_refuse(
    fast_intake: FastIntake,
) -> None:
    case_id = await fast_intake.submit(form(specialty="not-sure"))
    post = fast_intake.client.post
    staff = fast_intake.staff
    not_sure = await post(f"/cases/{case_id}/triage", json={"specialty": "not-sure"}, headers=staff)
    assert not_sure.status_code == 422 and not_sure.json()["error"]["field"] == "specialty"
    triaged = await post(f"/cases/{case_id}/triage", json={"specialty": "genetics"}, headers=staff)
    assert triaged.status_code == 200 and triaged.json()["specialty"] == "genetics"
    resume = await post(f"/cases/{case_id}/resume", json={}, headers=staff)
    assert resume.status_code == 409 and resume.json()["error"]["code"] == "invalid_transition"
    cancelled = await post(f"/cases/{case_id}/cancel", json={"reason": "dup"}, headers=staff)
    assert cancelled.json()["status"] == "cancelled"
    closed = await post(f"/cases/{case_id}/notes", json={"text": "hello"}, headers=staff)
    assert closed.status_code == 200  # notes are still kept on a cancelled case
    missing = await post("/cases/nope/hold", json={"reason": "x"}, headers=staff)
    assert missing.status_code == 404
    changes = [e.data["change"] for e in fast_intake.store.outbox if e.type == "case.updated"]
    assert changes == ["triaged", "cancelled", "note-added"]


async def test_the_status_page_shows_what_is_missing_and_where_to_upload(
    fast_intake: FastIntake,
) -> None:
    case_id = await fast_intake.submit(form())
    record = await fast_intake.store.get_case(case_id)
    assert record is not None
    facts = {"required": ["a", "b"], "present": ["a"], "missing": ["b"]}
    milestone = Milestone("e-1", "records.updated", record.submitted_at, facts)
    await fast_intake.store.add_milestone(case_id, milestone)
    link = fast_intake.auth("guardian", case_ids=[case_id])
    page = (await fast_intake.client.get(f"/cases/{case_id}/status", headers=link)).json()
    assert page["stage"] == "gathering-records" and page["missing"] == ["b"]
    assert page["records"]["checklist_url"].endswith(f"/cases/{case_id}/checklist")
    detail = await fast_intake.client.get(f"/cases/{case_id}", headers=fast_intake.staff)
    assert detail.json()["progress"]["missing"] == ["b"]
    assert detail.json()["submission"]["patient"]["given_name"] == "Amelia"
    (listed,) = (await fast_intake.client.get("/cases", headers=fast_intake.staff)).json()
    assert listed["stage"] == "gathering-records" and "submission" not in listed
