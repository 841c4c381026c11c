"""`POST /fhir` is documented by a real request schema and an example the service accepts."""

from __future__ import annotations

from typing import Any

import jsonschema

from services.intake.fhir import RESOURCE_TYPES
from tests.unit.intake.conftest import FastIntake

FHIR = {"Content-Type": "application/fhir+json"}


async def _body_docs(fast_intake: FastIntake) -> dict[str, Any]:
    openapi = (await fast_intake.client.get("/openapi.json")).json()
    body: dict[str, Any] = openapi["paths"]["/fhir"]["post"]["requestBody"]["content"]
    return body["application/fhir+json"]


async def test_the_bundle_schema_says_where_each_field_goes(fast_intake: FastIntake) -> None:
    schema = (await _body_docs(fast_intake))["schema"]
    assert schema["properties"]["type"] == {"const": "transaction"}
    resources = schema["properties"]["entry"]["items"]["properties"]["resource"]["oneOf"]
    kinds = [r["properties"]["resourceType"]["const"] for r in resources]
    assert sorted(kinds) == sorted(RESOURCE_TYPES)
    text = str(schema)
    for field in (
        "guardian.email",
        "guardian.phone",
        "guardian.preferred_language",
        "country",
        "patient.mrn",
        "consent.text_version",
        "hospital_request_id",
    ):
        assert field in text, field


async def test_the_documented_example_validates_and_is_accepted(fast_intake: FastIntake) -> None:
    docs = await _body_docs(fast_intake)
    example = docs["examples"]["hospital-referral"]["value"]
    jsonschema.Draft202012Validator(docs["schema"]).validate(example)
    hospital = {**fast_intake.auth("hospital-system", organization="org-valley"), **FHIR}
    answer = await fast_intake.client.post("/fhir", json=example, headers=hospital)
    assert answer.status_code == 201, answer.text
    (case,) = fast_intake.store.cases.values()
    submission = case.submission
    assert submission.guardian.preferred_language == "es" and submission.country == "US"
    assert submission.patient.mrn == "MRN-0042-7781"
    assert submission.consent.text_version == "2026-01"


async def test_the_schema_refuses_what_the_service_refuses(fast_intake: FastIntake) -> None:
    docs = await _body_docs(fast_intake)
    example = docs["examples"]["hospital-referral"]["value"]
    validator = jsonschema.Draft202012Validator(docs["schema"])
    assert not validator.is_valid({**example, "type": "batch"})
    assert not validator.is_valid({**example, "entry": example["entry"][1:]})  # no ServiceRequest
