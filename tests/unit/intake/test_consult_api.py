"""Consult routes over HTTP with an in-memory store: the family asks with its case link, the
intake team proposes, the family confirms; strangers and the wrong roles are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.intake.progress import Milestone
from shared.contracts import ConsultUpdated, decode_payload, payload_as
from tests.unit.intake.conftest import FastIntake
from tests.unit.intake.samples import GUARDIAN_EMAIL, form

SOON = (datetime.now(UTC) + timedelta(days=5)).replace(hour=15, minute=0, second=0, microsecond=0)
ASK = {
    "kind": "video",
    "attendees": "both",
    "preferred_times": "Mornings, please",
    "interpreter_needed": True,
    "interpreter_language": "es",
    "time_zone": "America/Mexico_City",
}
PROPOSAL = {
    "slots": [
        {"start": SOON.isoformat(), "minutes": 45},
        {"start": (SOON + timedelta(days=1)).isoformat(), "minutes": 45},
    ],
    "expert_id": "ana",
    "expert_time_zone": "Europe/Madrid",
    "meeting_url": "https://meet.example.org/abc",
}


def consult_events(fast_intake: FastIntake) -> list[ConsultUpdated]:
    return [
        payload_as(decode_payload(e), ConsultUpdated)
        for e in fast_intake.store.outbox
        if e.type == "consult.updated"
    ]


async def reported_case(fast_intake: FastIntake) -> tuple[str, dict[str, str]]:
    case_id = await fast_intake.submit(form())
    issued = Milestone("rep-1", "report.issued", datetime.now(UTC), {"version": 1})
    await fast_intake.store.add_milestone(case_id, issued)
    return case_id, fast_intake.auth("guardian", case_ids=[case_id])


async def post(fast_intake: FastIntake, path: str, body: Any, who: dict[str, str]) -> Any:
    return await fast_intake.client.post(path, json=body, headers=who)


async def test_request_propose_confirm_then_cancel(fast_intake: FastIntake) -> None:
    case_id, family = await reported_case(fast_intake)
    base = f"/cases/{case_id}/consults"
    asked = await post(fast_intake, base, ASK, family)
    assert asked.status_code == 201, asked.text
    consult = asked.json()
    assert consult["state"] == "requested" and consult["preferred_times"] == "Mornings, please"
    consult_id = consult["consult_id"]

    proposed = await post(fast_intake, f"{base}/{consult_id}/propose", PROPOSAL, fast_intake.staff)
    assert proposed.status_code == 200, proposed.text
    assert len(proposed.json()["slots"]) == 2

    listed = await fast_intake.client.get(base, headers=family)
    assert [c["state"] for c in listed.json()] == ["proposed"]

    confirmed = await post(
        fast_intake, f"{base}/{consult_id}/confirm", {"start": SOON.isoformat()}, family
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["confirmed_slot"]["minutes"] == 45

    cancelled = await post(
        fast_intake,
        f"{base}/{consult_id}/cancel",
        {"reason": "expert-unavailable"},
        fast_intake.staff,
    )
    assert cancelled.status_code == 200, cancelled.text
    changes = [e.change for e in consult_events(fast_intake)]
    assert changes == ["requested", "proposed", "confirmed", "cancelled"]
    for event in consult_events(fast_intake):
        assert GUARDIAN_EMAIL not in event.model_dump_json()
        assert "Mornings" not in event.model_dump_json()


async def test_before_the_report_a_consult_is_refused_with_a_code(
    fast_intake: FastIntake,
) -> None:
    case_id = await fast_intake.submit(form())
    family = fast_intake.auth("guardian", case_ids=[case_id])
    answer = await post(fast_intake, f"/cases/{case_id}/consults", ASK, family)
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "report_not_issued"


async def test_who_may_do_what(fast_intake: FastIntake) -> None:
    case_id, family = await reported_case(fast_intake)
    base = f"/cases/{case_id}/consults"
    stranger = fast_intake.auth("guardian", case_ids=["another-case"])
    assert (await post(fast_intake, base, ASK, stranger)).status_code == 404
    assert (await post(fast_intake, base, ASK, fast_intake.staff)).status_code == 403
    assert (await post(fast_intake, base, ASK, fast_intake.auth("expert"))).status_code == 403
    consult_id = (await post(fast_intake, base, ASK, family)).json()["consult_id"]
    # The family does not propose times; an admin sees no clinical content.
    assert (
        await post(fast_intake, f"{base}/{consult_id}/propose", PROPOSAL, family)
    ).status_code == 403
    admin = fast_intake.auth("admin")
    assert (await fast_intake.client.get(base, headers=admin)).status_code == 403
    bad = {**PROPOSAL, "meeting_url": "http://meet.example.org/abc"}
    answer = await post(fast_intake, f"{base}/{consult_id}/propose", bad, fast_intake.staff)
    assert answer.status_code == 422
    # The physician's link to this case may cancel it.
    physician = fast_intake.auth("referring-physician", case_ids=[case_id])
    answer = await post(fast_intake, f"{base}/{consult_id}/cancel", {"reason": "other"}, physician)
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "cancelled"
