"""Fees and financial clearance on the real stack, in a program that requires clearance: the
estimate is there before anyone submits; a hospital's case whose records are complete is NOT
offered to an expert; a card number typed as the reference is refused; once the intake team
marks the insurer's pre-authorisation the offer goes out and an expert accepts. The family (in
Spanish) gets the estimate by email and word of the clearance."""

from __future__ import annotations

import asyncio
from email.message import Message

import httpx
import pytest

from bench.journey import Journey
from shared.bus import KafkaEventPublisher
from tests.e2e.test_case_journey import MailSink, mail, text_of
from tests.platform import Platform
from tests.support import eventually, sample_case

pytestmark = pytest.mark.real
__all__ = ["mail"]  # fixture

CASE = "fees-1"


@pytest.fixture
def platform_env(mail: tuple[MailSink, int]) -> dict[str, str]:
    return {
        "NOTIFY_SMTP_HOST": "127.0.0.1",
        "NOTIFY_SMTP_PORT": str(mail[1]),
        "INTAKE_FINANCIAL_CLEARANCE_REQUIRED": "true",
    }


async def test_a_case_waits_on_financial_clearance_before_an_expert_is_offered_it(
    platform: Platform, publisher: KafkaEventPublisher, mail: tuple[MailSink, int]
) -> None:
    sink, _ = mail
    case = sample_case(CASE, organization_id="valley", hospital_request_id="VP-FEES-1")
    async with httpx.AsyncClient(timeout=30) as http:
        urls = {name: platform.url(name) for name in platform.services}
        journey = Journey(urls, platform.issuer, http)

        estimate = await http.get(f"{urls['intake']}/fees/estimate")
        assert estimate.status_code == 200, estimate.text
        assert estimate.json()["total_minor"] == 80000
        assert estimate.json()["clearance_required"] is True

        await journey.submit_as_hospital(publisher, platform.stack, case)
        await journey.send_records(CASE)

        async def waiting_at_assignment() -> dict[str, object] | None:
            found = await http.get(f"{urls['assignment']}/cases/{CASE}", headers=journey.staff)
            body: dict[str, object] = found.json() if found.status_code == 200 else {}
            return body if body.get("awaiting_financial_clearance") else None

        async def board_says_awaiting_clearance() -> dict[str, object] | None:
            found = await http.get(f"{urls['notify']}/cases/{CASE}/timeline", headers=journey.staff)
            body: dict[str, object] = found.json() if found.status_code == 200 else {}
            waiting = body.get("waiting_on") or {}
            detail = waiting.get("detail") if isinstance(waiting, dict) else None
            return body if detail == "awaiting financial clearance" else None

        waiting = await eventually(waiting_at_assignment, within=90)
        await eventually(board_says_awaiting_clearance, within=90)
        # Records are ready (the board moved on to the expert's stage), yet nobody is offered it.
        assert waiting["stage"] == "waiting" and waiting["open_offer"] is None
        await asyncio.sleep(2)
        offers = await http.get(
            f"{urls['assignment']}/offers", params={"status": "open"}, headers=journey.staff
        )
        assert [o for o in offers.json() if o["case_id"] == CASE] == []

        clearance_url = f"{urls['intake']}/cases/{CASE}/financial-clearance"
        card = await http.post(
            clearance_url,
            json={"method": "self-pay", "reference": "4111 1111 1111 1111"},
            headers=journey.staff,
        )
        assert card.status_code == 422 and card.json()["error"]["code"] == "card_number_refused"
        family = journey.auth("guardian", "family-1", cases=(CASE,))
        refused = await http.post(clearance_url, json={"method": "waived"}, headers=family)
        assert refused.status_code == 403

        cleared = await http.post(
            clearance_url,
            json={"method": "insurance-preauthorization", "reference": "PA-2026-0042"},
            headers=journey.staff,
        )
        assert cleared.status_code == 200, cleared.text
        assert cleared.json()["state"] == "cleared"

        expert_id = await journey.accept_offer(CASE)

        async def in_review() -> dict[str, object] | None:
            found = await http.get(f"{urls['notify']}/cases/{CASE}/timeline", headers=journey.staff)
            body: dict[str, object] = found.json() if found.status_code == 200 else {}
            return body if body.get("stage") == "in-review" else None

        reviewed = await eventually(in_review, within=60)
        assert reviewed["expert_id"] == expert_id

        status = await http.get(f"{urls['intake']}/cases/{CASE}/status", headers=family)
        assert status.json()["financial_clearance"] == "cleared"

    def family_mail(words: str) -> Message | None:
        for recipients, message in sink.messages:
            if case.guardian.email in recipients and words in text_of(message):
                return message
        return None

    estimate_mail = await eventually(lambda: family_mail("800,00\xa0US$"), within=60)
    assert CASE in str(estimate_mail["Subject"])
    assert case.working_diagnosis not in text_of(estimate_mail)
    await eventually(lambda: family_mail("autorización previa de su seguro"), within=60)
