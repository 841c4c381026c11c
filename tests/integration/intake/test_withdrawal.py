"""A family's withdrawal through its case link reaches the topic as the `case.updated` cancel
the other services already follow, with the link holder as actor."""

from __future__ import annotations

import pytest

from tests.integration.intake.conftest import IntakeHarness
from tests.support import eventually
from tests.unit.intake.samples import form

pytestmark = pytest.mark.real


async def test_a_withdrawal_is_published_as_a_cancel_by_the_family(intake: IntakeHarness) -> None:
    accepted = await intake.submit(form())
    case_id, link = accepted["case_id"], {"Authorization": f"Bearer {accepted['link']['token']}"}
    answer = await intake.client.post(
        f"/cases/{case_id}/withdraw", json={"reason": "treated closer to home"}, headers=link
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "cancelled"

    (published,) = await eventually(lambda: intake.published("case.updated", case_id))
    event = published.data
    assert (event["change"], event["status"]) == ("cancelled", "cancelled")
    assert event["actor"] == {"subject": f"guardian-link:{case_id}", "role": "guardian"}
    assert event["reason"] == "withdrawn by the family: treated closer to home"
    again = await intake.client.post(f"/cases/{case_id}/withdraw", json={}, headers=link)
    assert again.status_code == 409 and again.json()["error"]["code"] == "case_closed"
