"""The audit trail finds every access to a case by that case, whatever identifier the URL
carried: the FHIR Bundle that created it, the offer an expert accepted, the images read by
study UID, the report read as a FHIR DiagnosticReport (allowed or refused)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bench.journey import Journey
from tests.integration.records.samples import build_study, stow_body
from tests.platform import Platform
from tests.support import eventually, sample_pdf
from tests.unit.intake.samples import bundle

pytestmark = [pytest.mark.real, pytest.mark.timeout(420)]

FHIR = {"Content-Type": "application/fhir+json"}
DOCUMENTS = {
    "pathology-report": ("path.pdf", sample_pdf()),
    "lab-results": ("labs.txt", b"CBC within normal limits\n"),
    "treatment-records": ("plan.txt", b"Cycle 1: ABVD\n"),
    "current-medications": ("meds.txt", b"ondansetron 4 mg\n"),
}


async def test_every_access_to_a_case_is_found_by_that_case(platform: Platform) -> None:
    urls = {name: platform.url(name) for name in platform.services}
    async with httpx.AsyncClient(timeout=30) as http:
        journey = Journey(urls, platform.issuer, http)
        hospital = journey.auth("hospital-system", "his-valley", org="valley")
        created = await http.post(
            f"{urls['intake']}/fhir", json=bundle("AUDIT-1"), headers={**hospital, **FHIR}
        )
        assert created.status_code == 201, created.text
        case_id = created.json()["id"]

        # The records: a CT study from the hospital's PACS, the documents from the staff.
        study = build_study((("CT_small.dcm", 2),), patient_id="MRN-77-1234")
        study_uid = study[0].study
        body, content_type = stow_body([i.data for i in study])
        await journey._until(
            "stow",
            lambda: http.post(
                f"{urls['records']}/dicomweb/studies",
                params={"case_id": case_id},
                content=body,
                headers={**hospital, "Content-Type": content_type},
            ),
        )
        for kind, (name, content) in DOCUMENTS.items():
            await journey._until(
                kind,
                lambda k=kind, n=name, c=content: http.post(  # type: ignore[misc]
                    f"{urls['records']}/cases/{case_id}/documents",
                    data={"kind": k},
                    files={"file": (n, c)},
                    headers=journey.staff,
                ),
            )
        expert_id = await journey.accept_offer(case_id)
        expert = journey.auth("expert", expert_id)

        # The expert reads the images by study UID only (QIDO, then WADO); a stranger is refused.
        dicomweb = f"{urls['records']}/dicomweb/studies"
        qido = await journey._until(
            "qido",
            lambda: http.get(dicomweb, params={"StudyInstanceUID": study_uid}, headers=expert),
        )
        assert len(qido.json()) == 1
        wado = await http.get(f"{dicomweb}/{study_uid}", headers=expert)
        assert wado.status_code == 200
        stranger = journey.auth("expert", "expert-not-on-the-case")
        assert (await http.get(f"{dicomweb}/{study_uid}", headers=stranger)).status_code == 404

        await journey.write_and_sign(case_id, expert_id)
        report = f"{urls['reports']}/fhir/DiagnosticReport/rpt-{case_id}"
        await journey._until("diagnostic report", lambda: http.get(report, headers=hospital))
        # A partner feed reads its own organization's reports: this one is another's.
        partner = journey.auth("partner", "partner-1", org="hill")
        assert (await http.get(report, headers=partner)).status_code == 404
        other_hospital = journey.auth("hospital-system", "his-hill", org="hill")
        assert (await http.get(report, headers=other_hospital)).status_code == 404

        officer = journey.auth("compliance-officer", "officer-audit")
        wanted = {
            ("intake", "POST /fhir", "his-valley", "allowed"),
            ("assignment", "POST /offers/{offer_id}/accept", expert_id, "allowed"),
            ("records", "GET /dicomweb/studies", expert_id, "allowed"),
            ("records", "GET /dicomweb/studies/{study}", expert_id, "allowed"),
            ("records", "GET /dicomweb/studies/{study}", "expert-not-on-the-case", "denied"),
            ("reports", "GET /fhir/DiagnosticReport/{report_id}", "his-valley", "allowed"),
            ("reports", "GET /fhir/DiagnosticReport/{report_id}", "partner-1", "denied"),
            ("reports", "GET /fhir/DiagnosticReport/{report_id}", "his-hill", "denied"),
        }

        seen: set[tuple[str, str, str, str]] = set()

        async def trail() -> bool:
            found = await http.get(f"{urls['audit']}/audit/cases/{case_id}", headers=officer)
            seen.update(_access(r) for r in found.json()["records"])
            return wanted <= seen

        try:
            await eventually(trail, within=60, interval=0.5)
        except AssertionError:
            raise AssertionError(f"not on the case's trail: {sorted(wanted - seen)}") from None


def _access(record: dict[str, Any]) -> tuple[str, str, str, str]:
    return (
        record["service"],
        f"{record['method']} {record['route']}",
        record["agent"]["subject"],
        record["outcome"],
    )
