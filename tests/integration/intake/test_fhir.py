"""`POST /fhir`: a hospital's FHIR transaction Bundle becomes the same case as a form would,
once per ServiceRequest identifier; every refusal is an OperationOutcome naming the element."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.integration.intake.conftest import IntakeHarness
from tests.support import eventually
from tests.unit.intake.samples import BIRTH_DATE, CHILD_GIVEN, bundle

pytestmark = pytest.mark.real

FHIR = {"Content-Type": "application/fhir+json"}


async def test_a_bundle_becomes_one_case_for_the_hospitals_organization(
    intake: IntakeHarness,
) -> None:
    hospital = {**intake.auth("hospital-system", organization="org-valley"), **FHIR}
    created = await intake.client.post("/fhir", json=bundle("REQ-9"), headers=hospital)
    assert created.status_code == 201, created.text
    assert created.headers["content-type"].startswith("application/fhir+json")
    reply = created.json()
    assert reply["resourceType"] == "Bundle" and reply["type"] == "transaction-response"
    case_id = reply["id"]
    assert reply["entry"][0]["response"]["location"] == f"ServiceRequest/{case_id}"

    again = await intake.client.post("/fhir", json=bundle("REQ-9"), headers=hospital)
    assert again.status_code == 200 and again.json()["id"] == case_id

    (event,) = await eventually(lambda: intake.published("case.submitted", case_id))
    data = event.data
    assert data["submitted_via"] == "fhir" and data["organization_id"] == "org-valley"
    assert data["hospital_request_id"] == "REQ-9"
    assert data["patient"]["mrn"] == "MRN-77-1234"
    assert data["patient"]["mrn_system"] == "urn:oid:1.2.3.4.5"
    assert data["hospital_request_system"] == "urn:oid:1.2.3.4"
    assert data["guardian"]["relationship"] == "mother"
    assert data["guardian"]["preferred_language"] == "es"
    assert data["referring_physician"]["name"] == "Dr. Lee Example"
    assert data["questions"] == ["Is radiation needed?", "What are the late effects?"]
    assert data["specialty"] == "oncology" and data["diagnosis_stage"] == "IIA"

    # The hospital may read its own case's status; another hospital is told it does not exist.
    own = await intake.client.get(f"/cases/{case_id}/status", headers=hospital)
    assert own.status_code == 200
    other = intake.auth("hospital-system", organization="org-other")
    assert (await intake.client.get(f"/cases/{case_id}/status", headers=other)).status_code == 404


async def test_a_bundle_sent_concurrently_is_one_case(intake: IntakeHarness) -> None:
    hospital = {**intake.auth("hospital-system", organization="org-valley"), **FHIR}
    answers = await asyncio.gather(
        *(intake.client.post("/fhir", json=bundle("REQ-10"), headers=hospital) for _ in range(4))
    )
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201]
    (case_id,) = {a.json()["id"] for a in answers}
    assert len(await eventually(lambda: intake.published("case.submitted", case_id))) == 1
    listed = (await intake.client.get("/cases", headers=intake.staff)).json()
    assert [c["case_id"] for c in listed] == [case_id]


async def test_refusals_are_operation_outcomes_that_name_the_element(
    intake: IntakeHarness,
) -> None:
    hospital = {**intake.auth("hospital-system", organization="org-valley"), **FHIR}
    patient = bundle()["entry"][1]["resource"]
    consent = bundle()["entry"][6]["resource"]
    cases: list[tuple[dict[str, Any], int, str]] = [
        (bundle(Patient=None), 422, "Patient"),
        (bundle(Patient={**patient, "birthDate": "09/04/2016"}), 422, "Patient.birthDate"),
        (bundle(Patient={**patient, "birthDate": "2999-01-01"}), 422, "Patient.birthDate"),
        (bundle(Consent={**consent, "policy": [{"uri": "valley-v3"}]}), 422, "Consent.policy"),
        ({"resourceType": "Bundle", "type": "batch", "entry": []}, 400, "Bundle.type"),
    ]
    for body, status, expression in cases:
        answer = await intake.client.post("/fhir", json=body, headers=hospital)
        assert answer.status_code == status, (expression, answer.text)
        outcome = answer.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["expression"] == [expression]
        assert CHILD_GIVEN not in answer.text and BIRTH_DATE not in answer.text

    not_json = await intake.client.post("/fhir", content=b"{nope", headers=hospital)
    assert not_json.status_code == 400
    assert not_json.json()["issue"][0]["code"] == "structure"
    wrong_type = await intake.client.post(
        "/fhir", content=b"<Bundle/>", headers={**hospital, "Content-Type": "application/xml"}
    )
    assert wrong_type.status_code == 415
    anonymous = await intake.client.post("/fhir", json=bundle(), headers=FHIR)
    assert anonymous.status_code == 401
    assert anonymous.json()["resourceType"] == "OperationOutcome"
    family = await intake.client.post(
        "/fhir", json=bundle(), headers={**intake.auth("guardian", case_ids=["x"]), **FHIR}
    )
    assert family.status_code == 403 and family.json()["issue"][0]["code"] == "forbidden"
    nameless = intake.auth("hospital-system")
    assert (await intake.client.post("/fhir", json=bundle(), headers=nameless)).status_code == 403
    assert (await intake.client.get("/cases", headers=intake.staff)).json() == []
