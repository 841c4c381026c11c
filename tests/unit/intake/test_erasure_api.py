"""Erasure at intake over HTTP with an in-memory store (issue 14): the guardian asks with the
case link, the intake team approves or refuses; an approved case keeps no personal data and
publishes `case.erased` (after a cancel, if it was still in progress)."""

from __future__ import annotations

from datetime import timedelta

from services.intake import erasure_handlers
from services.intake.progress import Milestone
from shared.contracts import CaseErased, CaseKey, decode_payload, payload_as
from tests.unit.intake.conftest import FastIntake
from tests.unit.intake.samples import BIRTH_DATE, CHILD_FAMILY, CHILD_GIVEN, GUARDIAN_EMAIL, form

PHI = (CHILD_GIVEN, CHILD_FAMILY, BIRTH_DATE, GUARDIAN_EMAIL, "Rosa")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def submitted(fast_intake: FastIntake) -> tuple[str, dict[str, str]]:
    answer = await fast_intake.client.post("/cases", json=form())
    assert answer.status_code == 201, answer.text
    return answer.json()["case_id"], bearer(answer.json()["link"]["token"])


async def test_an_approved_request_erases_the_case_and_tells_every_service(
    fast_intake: FastIntake,
) -> None:
    case_id, link = await submitted(fast_intake)
    client = fast_intake.client

    asked = await client.post(f"/cases/{case_id}/erasure", json={}, headers=link)
    assert asked.status_code == 202, asked.text
    assert asked.json()["state"] == "requested"
    again = await client.post(f"/cases/{case_id}/erasure", headers=link)
    assert again.status_code == 409 and again.json()["error"]["code"] == "erasure_pending"
    assert not [e for e in fast_intake.store.outbox if e.type == "case.erased"]

    approved = await client.post(f"/cases/{case_id}/erasure/approve", headers=fast_intake.staff)
    assert approved.status_code == 200, approved.text
    for text in PHI:
        assert text not in approved.text

    types = [e.type for e in fast_intake.store.outbox]
    # Cancelled first (still in progress), then erased, then the case's key destroyed.
    assert types[-3:] == ["case.updated", "case.erased", "case.keys"]
    destroyed = payload_as(decode_payload(fast_intake.store.outbox[-1]), CaseKey)
    assert destroyed.case_id == case_id and destroyed.wrapped_key is None
    erased = payload_as(decode_payload(fast_intake.store.outbox[-2]), CaseErased)
    assert erased.case_id == case_id and erased.reason == "family-request"
    assert erased.actor.role == "intake-staff"

    for path, headers in (
        (f"/cases/{case_id}", fast_intake.staff),
        (f"/cases/{case_id}/status", link),
        (f"/cases/{case_id}/erasure", link),
        ("/cases", fast_intake.staff),
    ):
        answer = await client.get(path, headers=headers)
        assert answer.status_code == 200, answer.text
        for text in PHI:
            assert text not in answer.text, path
    stored = fast_intake.store.cases[case_id].model_dump_json()
    for text in PHI:
        assert text not in stored

    twice = await client.post(f"/cases/{case_id}/erasure/approve", headers=fast_intake.staff)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_erased"


async def test_the_team_may_refuse_and_only_the_right_roles_may_act(
    fast_intake: FastIntake,
) -> None:
    case_id, link = await submitted(fast_intake)
    client = fast_intake.client
    nothing = await client.post(
        f"/cases/{case_id}/erasure/refuse", json={"reason": "other"}, headers=fast_intake.staff
    )
    assert nothing.status_code == 409 and nothing.json()["error"]["code"] == "no_erasure_request"
    staff_asks = await client.post(f"/cases/{case_id}/erasure", headers=fast_intake.staff)
    assert staff_asks.status_code == 403
    physician = fast_intake.auth("referring-physician", case_ids=[case_id])
    assert (await client.post(f"/cases/{case_id}/erasure", headers=physician)).status_code == 403
    await client.post(f"/cases/{case_id}/erasure", headers=link)
    for who in (link, fast_intake.auth("admin"), fast_intake.auth("expert")):
        answer = await client.post(f"/cases/{case_id}/erasure/approve", headers=who)
        assert answer.status_code == 403, answer.text

    refused = await client.post(
        f"/cases/{case_id}/erasure/refuse",
        json={"reason": "legal-hold"},
        headers=fast_intake.staff,
    )
    assert refused.status_code == 200, refused.text
    state = await client.get(f"/cases/{case_id}/erasure", headers=link)
    assert state.json()["state"] == "refused" and state.json()["refusal"] == "legal-hold"
    assert CHILD_GIVEN in refused.text  # nothing was erased
    assert not [e for e in fast_intake.store.outbox if e.type == "case.erased"]


async def test_the_retention_sweep_erases_closed_cases_past_their_period(
    fast_intake: FastIntake,
) -> None:
    reported, _ = await submitted(fast_intake)
    still_open, _ = await submitted(fast_intake)
    ctx = fast_intake.context
    issued_at = ctx.clock() - timedelta(days=11)
    await ctx.store.add_milestone(reported, Milestone("ev-r", "report.issued", issued_at))

    ctx.settings = ctx.settings.model_copy(update={"retention_days": 0})
    assert await erasure_handlers.erase_expired(ctx=ctx) == 0
    ctx.settings = ctx.settings.model_copy(update={"retention_days": 10})
    assert await erasure_handlers.erase_expired(ctx=ctx) == 1
    assert await erasure_handlers.erase_expired(ctx=ctx) == 0  # once

    erased = payload_as(decode_payload(fast_intake.store.outbox[-2]), CaseErased)
    assert (erased.case_id, erased.reason) == (reported, "retention-expired")
    assert erased.actor.subject == "system:retention"
    assert CHILD_GIVEN not in fast_intake.store.cases[reported].model_dump_json()
    assert CHILD_GIVEN in fast_intake.store.cases[still_open].model_dump_json()
