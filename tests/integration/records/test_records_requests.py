"""Requests for missing records on the real servers: the family reads on its case page what
staff asked for and why, since the emails carry only a count and a link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.contracts import RecordsRequested
from shared.envelope import CloudEvent
from tests.integration.records.conftest import RecordsHarness
from tests.support import eventually
from tests.topic_reading import events_on

pytestmark = pytest.mark.real


async def test_the_family_reads_the_requested_items_and_message_on_its_checklist(
    records: RecordsHarness,
) -> None:
    await records.submit("case-asked")
    staff = records.auth("intake-staff")
    family = records.auth("guardian", case_ids=["case-asked"])
    before = datetime.now(UTC) - timedelta(seconds=5)

    first = await records.client.post(
        "/cases/case-asked/requests",
        json={"items": ["pathology-report", "mri-imaging"], "message": "Please send the MRI CD."},
        headers=staff,
    )
    assert first.status_code == 202, first.text
    second = await records.client.post(
        "/cases/case-asked/requests", json={"items": ["treatment-records"]}, headers=staff
    )
    assert second.status_code == 202, second.text

    response = await records.client.get("/cases/case-asked/checklist", headers=family)
    assert response.status_code == 200, response.text
    requests = response.json()["requests"]
    assert [(r["items"], r["message"], r["requested_by_role"]) for r in requests] == [
        (["pathology-report", "mri-imaging"], "Please send the MRI CD.", "intake-staff"),
        (["treatment-records"], None, "intake-staff"),
    ]
    times = [datetime.fromisoformat(r["requested_at"]) for r in requests]
    assert before <= times[0] <= times[1] <= datetime.now(UTC)
    assert set(requests[0]) == {"items", "message", "requested_at", "requested_by_role"}

    physician = records.auth("referring-physician", case_ids=["case-asked"])
    seen = await records.client.get("/cases/case-asked/checklist", headers=physician)
    assert seen.status_code == 200, seen.text
    assert seen.json()["requests"] == requests

    # The same writes queued the events, which still go out through the outbox.
    events = await eventually(lambda: _requested(records, "case-asked", expected=2))
    assert [RecordsRequested.model_validate(e.data).items for e in events] == [
        ["pathology-report", "mri-imaging"],
        ["treatment-records"],
    ]


async def _requested(records: RecordsHarness, case_id: str, *, expected: int) -> list[CloudEvent]:
    found = await events_on(records.stack, "records.requested", case_id)
    return found if len(found) == expected else []
