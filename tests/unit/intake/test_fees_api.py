"""Fee and clearance routes over HTTP with an in-memory store: the public estimate, a case in a
program that requires clearance waiting on it, and who may clear it."""

from __future__ import annotations

import pytest

from services.intake.billing import FakeBilling
from shared.contracts import CaseSubmitted, FinancialClearanceUpdated, decode_payload, payload_as
from tests.unit.intake.conftest import FastIntake
from tests.unit.intake.samples import form


@pytest.fixture
def requiring(fast_intake: FastIntake) -> FastIntake:
    settings = fast_intake.context.settings
    fast_intake.context.settings = settings.model_copy(
        update={"financial_clearance_required": True}
    )
    return fast_intake


def clearance_events(fast_intake: FastIntake) -> list[FinancialClearanceUpdated]:
    return [
        payload_as(decode_payload(e), FinancialClearanceUpdated)
        for e in fast_intake.store.outbox
        if e.type == "financial_clearance.updated"
    ]


async def test_the_estimate_is_public_and_in_minor_units(fast_intake: FastIntake) -> None:
    answer = await fast_intake.client.get("/fees/estimate")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["service"], body["currency"], body["total_minor"]) == (
        "written-second-opinion",
        "USD",
        80000,
    )
    assert body["insurance_may_cover_minor"] == 75000
    assert body["clearance_required"] is False
    assert "estimate" in body["note"]
    euros = await fast_intake.client.get("/fees/estimate?currency=EUR")
    assert euros.json()["total_minor"] == 70000


async def test_an_unpriced_estimate_is_a_422_naming_the_field(fast_intake: FastIntake) -> None:
    answer = await fast_intake.client.get("/fees/estimate?service=video-consult&currency=MXN")
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "currency_not_offered"


async def test_a_case_without_the_requirement_has_no_clearance(fast_intake: FastIntake) -> None:
    case_id = await fast_intake.submit(form())
    assert clearance_events(fast_intake) == []
    answer = await fast_intake.client.post(
        f"/cases/{case_id}/financial-clearance",
        json={"method": "waived"},
        headers=fast_intake.staff,
    )
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "clearance_not_required"


async def test_a_case_waits_on_clearance_then_staff_clear_it(requiring: FastIntake) -> None:
    case_id = await requiring.submit(form(service_type="pathology-review"))
    submitted = [
        payload_as(decode_payload(e), CaseSubmitted)
        for e in requiring.store.outbox
        if e.type == "case.submitted"
    ]
    assert submitted[0].financial_clearance_required is True
    assert submitted[0].service_type == "pathology-review"
    (required,) = clearance_events(requiring)
    assert required.state == "required"
    assert required.estimate is not None and required.estimate.total_minor == 60000

    family = requiring.auth("guardian", case_ids=[case_id])
    status = (await requiring.client.get(f"/cases/{case_id}/status", headers=family)).json()
    assert status["financial_clearance"] == "required"
    assert status["estimate"]["total_minor"] == 60000

    answer = await requiring.client.post(
        f"/cases/{case_id}/financial-clearance",
        json={"method": "insurance-preauthorization", "reference": "PA-2026-1", "payer": "Acme"},
        headers=requiring.staff,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "cleared"
    assert clearance_events(requiring)[-1].method == "insurance-preauthorization"
    detail = (await requiring.client.get(f"/cases/{case_id}", headers=requiring.staff)).json()
    assert detail["clearance"]["reference"] == "PA-2026-1"


async def test_a_card_number_is_refused_with_a_422(requiring: FastIntake) -> None:
    case_id = await requiring.submit(form())
    answer = await requiring.client.post(
        f"/cases/{case_id}/financial-clearance",
        json={"method": "self-pay", "reference": "4111 1111 1111 1111"},
        headers=requiring.staff,
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "card_number_refused"
    assert "4111" not in answer.text
    assert len(clearance_events(requiring)) == 1


async def test_a_reference_the_billing_system_declines_is_refused(requiring: FastIntake) -> None:
    requiring.context.billing = FakeBilling({"PA-9": "declined"})
    case_id = await requiring.submit(form())
    answer = await requiring.client.post(
        f"/cases/{case_id}/financial-clearance",
        json={"method": "insurance-preauthorization", "reference": "PA-9"},
        headers=requiring.staff,
    )
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "not_authorized"


async def test_who_may_clear(requiring: FastIntake) -> None:
    case_id = await requiring.submit(form())
    path = f"/cases/{case_id}/financial-clearance"
    for who, expected in (
        (requiring.auth("guardian", case_ids=[case_id]), 403),
        (requiring.auth("expert"), 403),
        (requiring.auth("admin"), 403),
        # A hospital's billing system clears its own organization's cases only.
        (requiring.auth("hospital-system", organization="other-hospital"), 404),
    ):
        answer = await requiring.client.post(path, json={"method": "waived"}, headers=who)
        assert answer.status_code == expected, (who, answer.text)
    assert (await requiring.client.post(path, json={"method": "waived"})).status_code == 401


async def test_a_stranger_hospital_does_not_reach_the_billing_system(
    requiring: FastIntake,
) -> None:
    billing = FakeBilling()
    requiring.context.billing = billing
    case_id = await requiring.submit(form())
    stranger = requiring.auth("hospital-system", organization="other-hospital")
    answer = await requiring.client.post(
        f"/cases/{case_id}/financial-clearance",
        json={"method": "self-pay", "reference": "RCPT-1"},
        headers=stranger,
    )
    assert answer.status_code == 404
    assert billing.asked == []
