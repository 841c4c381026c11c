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


async def test_consent_is_signed_kept_and_withdrawn_on_the_real_store(
    intake: IntakeHarness,
) -> None:
    text = (await intake.client.get("/consent", params={"lang": "es"})).json()
    body = form()
    body["consent"] = {
        **body["consent"],
        "language": "es",
        "text_version": text["version"],
        "text_sha256": text["sha256"],
    }
    accepted = await intake.submit(body)
    case_id, link = accepted["case_id"], {"Authorization": f"Bearer {accepted['link']['token']}"}
    (submitted,) = await eventually(lambda: intake.published("case.submitted", case_id))
    assert submitted.data["consent"]["text_sha256"] == text["sha256"]

    answer = await intake.client.post(f"/cases/{case_id}/consent/withdraw", headers=link)
    assert answer.status_code == 200, answer.text
    (published,) = await eventually(lambda: intake.published("case.updated", case_id))
    assert published.data["reason"] == "consent withdrawn by the family"

    detail = (await intake.client.get(f"/cases/{case_id}", headers=intake.staff)).json()
    assert detail["consent_signature"]["text_sha256"] == text["sha256"]
    assert detail["consent_signature"]["language"] == "es"
    assert detail["consent_withdrawn"]["by_role"] == "guardian"
