"""A partner feed gets the issued report it is told about: the webhook names the reports API's
URLs and carries a token for that one case, which fetches the PDF and the FHIR
DiagnosticReport and nothing else; a partner's own token reads its organization's reports."""

from __future__ import annotations

import json

import httpx
import pytest

from bench.journey import Journey
from shared.bus import KafkaEventPublisher
from tests.integration.notify.conftest import Receiver, receiver
from tests.platform import Platform
from tests.support import eventually, sample_case

__all__ = ["receiver"]  # fixture

pytestmark = pytest.mark.real


async def test_a_partner_fetches_the_report_its_webhook_announces(
    platform: Platform, publisher: KafkaEventPublisher, receiver: Receiver
) -> None:
    case = sample_case("partner-1", organization_id="valley", hospital_request_id="VP-P-1")
    async with httpx.AsyncClient(timeout=30) as http:
        urls = {name: platform.url(name) for name in platform.services}
        journey = Journey(urls, platform.issuer, http)
        registered = await http.post(
            f"{urls['notify']}/partners",
            json={
                "partner_id": "registry",
                "name": "Tumour registry",
                "organization_id": "valley",
                "url": f"{receiver.url}/registry",
                "event_types": ["report.issued"],
            },
            headers=journey.auth("admin", "admin-1"),
        )
        assert registered.status_code == 201, registered.text
        await journey.whole_way(publisher, platform.stack, case)

        (delivered,) = await eventually(lambda: receiver.at("/registry"), within=60)
        event = json.loads(delivered.body)
        assert event["type"] == "report.issued" and event["subject"] == "partner-1"
        bearer = {"Authorization": f"Bearer {event['reporttoken']}"}

        pdf = await http.get(event["reportpdfurl"], headers=bearer)
        assert pdf.status_code == 200, pdf.text
        assert pdf.content.startswith(b"%PDF")
        html = await http.get(event["reporthtmlurl"], headers=bearer)
        assert html.status_code == 200 and "text/html" in html.headers["content-type"]
        fhir = await http.get(event["reportfhirurl"], headers=bearer)
        assert fhir.status_code == 200, fhir.text
        assert fhir.json()["resourceType"] == "DiagnosticReport"

        # The token is for that case alone, and for reading: not another case, not a draft.
        reports = urls["reports"]
        other = await http.get(
            f"{reports}/cases/journey-x/report/latest/report.pdf", headers=bearer
        )
        assert other.status_code == 404
        draft = await http.get(f"{reports}/cases/partner-1/report/draft", headers=bearer)
        assert draft.status_code == 403

        # A partner's own token reads its organization's reports, not another's.
        own = journey.auth("partner", "registry", org="valley")
        assert (await http.get(event["reportfhirurl"], headers=own)).status_code == 200
        stranger = journey.auth("partner", "elsewhere", org="elsewhere")
        assert (await http.get(event["reportfhirurl"], headers=stranger)).status_code == 404
