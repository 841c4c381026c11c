"""The intake team's view: filters, and every change (triage, note, hold, resume, cancel) is a
`case.updated` on the topic, in order."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tests.integration.intake.conftest import IntakeHarness
from tests.support import eventually
from tests.unit.intake.samples import form

pytestmark = pytest.mark.real


def born(years_ago: int) -> str:
    """A date of birth on 1 January, so the child is exactly `years_ago` all year."""
    return date(datetime.now(UTC).year - years_ago, 1, 1).isoformat()


async def test_staff_filter_by_status_specialty_urgency_and_age(intake: IntakeHarness) -> None:
    infant = await intake.submit(form(**{"patient.date_of_birth": born(0)}, urgency="urgent"))
    child = await intake.submit(form(**{"patient.date_of_birth": born(8)}, specialty="not-sure"))
    teen = await intake.submit(form(**{"patient.date_of_birth": born(15)}, specialty="genetics"))
    held = await intake.client.post(
        f"/cases/{teen['case_id']}/hold",
        json={"reason": "family asked to wait"},
        headers=intake.staff,
    )
    assert held.status_code == 200

    async def ids(query: str) -> list[str]:
        answer = await intake.client.get(f"/cases?{query}", headers=intake.staff)
        assert answer.status_code == 200, answer.text
        return [c["case_id"] for c in answer.json()]

    assert await ids("") == [teen["case_id"], child["case_id"], infant["case_id"]]
    assert await ids("urgency=urgent") == [infant["case_id"]]
    assert await ids("specialty=not-sure&specialty=genetics") == [teen["case_id"], child["case_id"]]
    assert await ids("status=on-hold") == [teen["case_id"]]
    assert await ids("status=open") == [child["case_id"], infant["case_id"]]
    assert await ids("age_band=infant") == [infant["case_id"]]
    assert await ids("age_band=adolescent") == [teen["case_id"]]
    assert await ids("min_age=1&max_age=12") == [child["case_id"]]
    assert await ids("limit=1&offset=1") == [child["case_id"]]
    bad = await intake.client.get("/cases?age_band=elderly", headers=intake.staff)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "age_band"
    empty = await intake.client.get("/cases?min_age=10&max_age=2", headers=intake.staff)
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "empty_age_range"


async def test_triage_notes_hold_resume_cancel_each_publish_case_updated(
    intake: IntakeHarness,
) -> None:
    case_id = (await intake.submit(form(specialty="not-sure")))["case_id"]
    path = f"/cases/{case_id}"
    steps = [
        ("triage", {"specialty": "hematology", "reason": "anaemia work-up"}),
        ("notes", {"text": "Called the mother about the bone-marrow report", "channel": "phone"}),
        ("hold", {"reason": "waiting for the family's decision"}),
        ("resume", {}),
        ("cancel", {"reason": "family withdrew the request"}),
    ]
    for action, body in steps:
        answer = await intake.client.post(f"{path}/{action}", json=body, headers=intake.staff)
        assert answer.status_code == 200, (action, answer.text)
    detail = (await intake.client.get(path, headers=intake.staff)).json()
    assert detail["status"] == "cancelled" and detail["specialty"] == "hematology"
    assert detail["requested_specialty"] == "not-sure"
    assert detail["notes"][0]["channel"] == "phone"
    assert [h["change"] for h in detail["history"]] == [
        "triaged",
        "note-added",
        "put-on-hold",
        "resumed",
        "cancelled",
    ]

    async def updates() -> list[tuple[str, str, str]]:
        events = await intake.published("case.updated", case_id)
        found = [(e.data["change"], e.data["status"], e.data["specialty"]) for e in events]
        return found if len(found) == len(steps) else []

    assert await eventually(updates) == [
        ("triaged", "open", "hematology"),
        ("note-added", "open", "hematology"),
        ("put-on-hold", "on-hold", "hematology"),
        ("resumed", "open", "hematology"),
        ("cancelled", "cancelled", "hematology"),
    ]
    events = await intake.published("case.updated", case_id)
    assert all("bone-marrow" not in str(e.data) for e in events)  # note text stays here
    assert events[0].data["actor"] == {"subject": "intake-staff-1", "role": "intake-staff"}

    for action, body in (("hold", {"reason": "again"}), ("triage", {"specialty": "oncology"})):
        refused = await intake.client.post(f"{path}/{action}", json=body, headers=intake.staff)
        assert refused.status_code == 409, action
    no_reason = await intake.client.post(f"{path}/cancel", json={}, headers=intake.staff)
    assert no_reason.status_code == 422 and no_reason.json()["error"]["field"] == "reason"
