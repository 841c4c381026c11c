"""The request form against the real servers: one case per request (however often it is
retried), `case.submitted` through the outbox, and a link that works for this case only."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.intake.conftest import IntakeHarness
from tests.support import eventually
from tests.unit.intake.samples import CHILD_FAMILY, form

pytestmark = pytest.mark.real


async def test_a_retried_submission_is_one_case_and_one_event(intake: IntakeHarness) -> None:
    assert (await intake.client.get("/readyz")).status_code == 200
    retry = {"Idempotency-Key": "family-retry-0001"}
    first = await intake.submit(form(urgency="urgent"), **retry)
    again = await intake.client.post("/cases", json=form(urgency="urgent"), headers=retry)
    assert again.status_code == 200
    assert again.json()["case_id"] == first["case_id"] and again.json()["replayed"] is True
    case_id = first["case_id"]
    assert first["warnings"][0]["code"] == "urgent_do_not_delay_treatment"

    events = await eventually(lambda: intake.published("case.submitted", case_id))
    assert len(events) == 1
    data = events[0].data
    assert data["urgency"] == "urgent" and data["submitted_via"] == "family"
    assert data["consent"]["text_version"] == "2026-01"

    listed = (await intake.client.get("/cases", headers=intake.staff)).json()
    assert [c["case_id"] for c in listed] == [case_id]

    link = {"Authorization": f"Bearer {first['link']['token']}"}
    status = await intake.client.get(first["status_url"], headers=link)
    assert status.status_code == 200 and status.json()["stage"] == "submitted"
    assert (
        status.json()["records"]["upload_url"] == f"http://records.test/cases/{case_id}/documents"
    )
    assert CHILD_FAMILY not in status.text  # the status page carries no patient details

    other = await intake.submit(form())
    refused = await intake.client.get(f"/cases/{other['case_id']}/status", headers=link)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"


async def test_concurrent_retries_and_concurrent_staff_changes_lose_nothing(
    intake: IntakeHarness,
) -> None:
    retry = {"Idempotency-Key": "double-click-0001"}
    answers = await asyncio.gather(
        *(intake.client.post("/cases", json=form(), headers=retry) for _ in range(4))
    )
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201]
    (case_id,) = {a.json()["case_id"] for a in answers}
    assert len(await eventually(lambda: intake.published("case.submitted", case_id))) == 1

    notes = [{"text": f"call {n}", "channel": "phone"} for n in range(5)]
    changed = await asyncio.gather(
        *(
            intake.client.post(f"/cases/{case_id}/notes", json=note, headers=intake.staff)
            for note in notes
        )
    )
    assert [a.status_code for a in changed] == [200] * 5
    detail = (await intake.client.get(f"/cases/{case_id}", headers=intake.staff)).json()
    assert sorted(n["text"] for n in detail["notes"]) == [f"call {n}" for n in range(5)]

    async def five_updates() -> bool:
        return len(await intake.published("case.updated", case_id)) == 5

    await eventually(five_updates)
