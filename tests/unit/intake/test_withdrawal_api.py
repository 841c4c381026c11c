"""`POST /cases/{id}/withdraw` over HTTP with an in-memory store: the family or the referring
physician withdraws their own request through their case link, published as the same
`case.updated` (change `cancelled`) a staff cancel publishes, with the link holder as actor."""

from __future__ import annotations

from datetime import UTC, datetime

from services.intake import domain
from services.intake.domain import CaseRecord
from shared.contracts import CaseUpdated, decode_payload, payload_as
from shared.contracts.common import Actor
from tests.support import sample_case
from tests.unit.intake.conftest import FastIntake
from tests.unit.intake.samples import CHILD_FAMILY, CHILD_GIVEN, GUARDIAN_EMAIL, form

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
FAMILY = Actor(subject="guardian-link:case-1", role="guardian")


def updates(fast_intake: FastIntake) -> list[CaseUpdated]:
    return [
        payload_as(decode_payload(e), CaseUpdated)
        for e in fast_intake.store.outbox
        if e.type == "case.updated"
    ]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_family_withdraws_its_request_with_its_case_link(fast_intake: FastIntake) -> None:
    submitted = await fast_intake.client.post("/cases", json=form())
    case_id, link = submitted.json()["case_id"], bearer(submitted.json()["link"]["token"])

    answer = await fast_intake.client.post(
        f"/cases/{case_id}/withdraw", json={"reason": "treated closer to home"}, headers=link
    )
    assert answer.status_code == 200, answer.text
    page = answer.json()
    assert page["case_id"] == case_id and page["status"] == "cancelled"
    assert "records" in page and "missing" in page  # the status page, not the staff detail
    assert "submission" not in page and "history" not in page
    status = await fast_intake.client.get(f"/cases/{case_id}/status", headers=link)
    assert status.json()["status"] == "cancelled"

    (event,) = updates(fast_intake)
    assert event.case_id == case_id
    assert (event.change, event.status) == ("cancelled", "cancelled")
    assert event.actor == Actor(subject=f"guardian-link:{case_id}", role="guardian")
    assert event.reason == "withdrawn by the family: treated closer to home"
    for name in (CHILD_GIVEN, CHILD_FAMILY, GUARDIAN_EMAIL, "Rosa"):
        assert name not in event.model_dump_json()

    detail = await fast_intake.client.get(f"/cases/{case_id}", headers=fast_intake.staff)
    entry = detail.json()["history"][-1]
    assert (entry["change"], entry["status"]) == ("cancelled", "cancelled")
    assert entry["actor"]["role"] == "guardian"
    assert entry["reason"] == event.reason


async def test_the_referring_physician_may_withdraw_without_a_reason(
    fast_intake: FastIntake,
) -> None:
    case_id = await fast_intake.submit(form(submitted_by="referring-physician"))
    link = fast_intake.auth("referring-physician", case_ids=[case_id])
    answer = await fast_intake.client.post(f"/cases/{case_id}/withdraw", json={}, headers=link)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "cancelled"
    (event,) = updates(fast_intake)
    assert event.actor.role == "referring-physician"
    assert event.reason == "withdrawn by the referring physician"


async def test_only_the_holder_of_this_case_link_may_withdraw(fast_intake: FastIntake) -> None:
    case_id = await fast_intake.submit(form())
    withdraw = f"/cases/{case_id}/withdraw"
    post = fast_intake.client.post

    other = await post(withdraw, json={}, headers=fast_intake.auth("guardian", case_ids=["x"]))
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
    unscoped = await post(withdraw, json={}, headers=fast_intake.auth("guardian"))
    assert unscoped.status_code == 404
    missing = await post(
        "/cases/nope/withdraw", json={}, headers=fast_intake.auth("guardian", case_ids=["nope"])
    )
    assert missing.status_code == 404

    staff = await post(withdraw, json={"reason": "dup"}, headers=fast_intake.staff)
    assert staff.status_code == 403 and staff.json()["error"]["code"] == "forbidden"
    assert "/cancel" in staff.json()["error"]["message"]
    for role in ("admin", "hospital-system", "expert"):
        refused = await post(withdraw, json={}, headers=fast_intake.auth(role, organization="v"))
        assert refused.status_code == 403, role

    anonymous = await post(withdraw, json={})
    assert anonymous.status_code == 401
    assert updates(fast_intake) == []


async def test_a_withdrawn_or_cancelled_case_cannot_be_withdrawn_again(
    fast_intake: FastIntake,
) -> None:
    case_id = await fast_intake.submit(form())
    link = fast_intake.auth("guardian", case_ids=[case_id])
    withdraw = f"/cases/{case_id}/withdraw"
    assert (await fast_intake.client.post(withdraw, json={}, headers=link)).status_code == 200
    again = await fast_intake.client.post(withdraw, json={}, headers=link)
    assert again.status_code == 409 and again.json()["error"]["code"] == "case_closed"

    cancelled = await fast_intake.submit(form())
    staff = fast_intake.staff
    answer = await fast_intake.client.post(
        f"/cases/{cancelled}/cancel", json={"reason": "duplicate request"}, headers=staff
    )
    assert answer.status_code == 200 and answer.json()["history"][-1]["actor"]["role"] == (
        "intake-staff"
    )
    late = await fast_intake.client.post(
        f"/cases/{cancelled}/withdraw",
        json={},
        headers=fast_intake.auth("guardian", case_ids=[cancelled]),
    )
    assert late.status_code == 409 and late.json()["error"]["code"] == "case_closed"
    assert [e.reason for e in updates(fast_intake)] == [
        "withdrawn by the family",
        "duplicate request",
    ]


async def test_a_case_on_hold_may_be_withdrawn(fast_intake: FastIntake) -> None:
    case_id = await fast_intake.submit(form())
    held = await fast_intake.client.post(
        f"/cases/{case_id}/hold", json={"reason": "waiting for scans"}, headers=fast_intake.staff
    )
    assert held.status_code == 200
    link = fast_intake.auth("guardian", case_ids=[case_id])
    answer = await fast_intake.client.post(f"/cases/{case_id}/withdraw", json={}, headers=link)
    assert answer.status_code == 200 and answer.json()["status"] == "cancelled"


async def test_the_reason_is_checked_like_any_other_field(fast_intake: FastIntake) -> None:
    case_id = await fast_intake.submit(form())
    link = fast_intake.auth("guardian", case_ids=[case_id])
    withdraw = f"/cases/{case_id}/withdraw"
    post = fast_intake.client.post
    for body in ({"reason": ""}, {"reason": "x", "extra": 1}, {"reason": "x" * 4000}):
        refused = await post(withdraw, json=body, headers=link)
        assert refused.status_code == 422, body
    # The longest reason the family may give still fits `case.updated` with its prefix.
    longest = "x" * domain.MAX_WITHDRAWAL_REASON
    assert (await post(withdraw, json={"reason": longest}, headers=link)).status_code == 200
    (event,) = updates(fast_intake)
    assert event.reason is not None and len(event.reason) <= 4000


def test_withdrawal_is_a_cancel_by_the_link_holder() -> None:
    record = CaseRecord.new(sample_case("case-1"), at=NOW)
    withdrawn = domain.withdraw(record, actor=FAMILY, reason=None, at=NOW)
    assert isinstance(withdrawn.event, CaseUpdated)
    assert (withdrawn.event.change, withdrawn.record.status) == ("cancelled", "cancelled")
    assert withdrawn.event.reason == "withdrawn by the family"
    assert withdrawn.record.history[-1].actor == FAMILY
    staff_cancel = domain.cancel(record, actor=FAMILY, reason="withdrawn by the family", at=NOW)
    assert withdrawn == staff_cancel
