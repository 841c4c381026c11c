"""FHIR Bundles into case fields; every refusal names the element, never the value."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from services.intake import fhir, fhir_outcome
from services.intake.fhir_outcome import FhirError
from shared.contracts import CaseSubmitted
from tests.unit.intake.samples import BIRTH_DATE, CHILD_GIVEN, bundle


def resource(kind: str, **changes: Any) -> dict[str, Any]:
    (found,) = [e["resource"] for e in bundle()["entry"] if e["resource"]["resourceType"] == kind]
    return {**found, **changes}


def refused(body: Any) -> FhirError:
    with pytest.raises(FhirError) as error:
        fhir.case_fields(body)
    assert CHILD_GIVEN not in error.value.diagnostics
    return error.value


def test_a_bundle_maps_onto_a_valid_case() -> None:
    fields = fhir.case_fields(bundle("REQ-5"))
    case = CaseSubmitted.model_validate({**fields, "case_id": "c-1", "submitted_via": "fhir"})
    assert case.patient.given_name == CHILD_GIVEN and str(case.patient.date_of_birth) == BIRTH_DATE
    assert case.guardian.name == "Rosa Quinterofake" and case.guardian.relationship == "mother"
    assert case.referring_physician.organization == "Valley Pediatrics"
    assert case.urgency == "routine" and case.country == "US"
    assert case.consent.text_version == "2026-01"
    assert case.hospital_request_id == "REQ-5"
    assert case.hospital_request_system == "urn:oid:1.2.3.4"
    assert (case.patient.mrn, case.patient.mrn_system) == ("MRN-77-1234", "urn:oid:1.2.3.4.5")


def test_priorities_map_to_urgency_and_relationship_text_wins() -> None:
    stat = resource("ServiceRequest", priority="stat")
    person = resource("RelatedPerson", relationship=[{"text": "aunt (legal guardian)"}])
    fields = fhir.case_fields(bundle(ServiceRequest=stat, RelatedPerson=person))
    assert fields["urgency"] == "urgent"
    assert fields["guardian"]["relationship"] == "aunt (legal guardian)"


def test_the_practitioner_s_language_is_the_physician_s() -> None:
    spanish = [{"coding": [{"system": "urn:ietf:bcp:47", "code": "es"}], "text": "Español"}]
    doctor = resource("Practitioner", communication=spanish)
    fields = fhir.case_fields(bundle(Practitioner=doctor))
    assert fields["referring_physician"]["preferred_language"] == "es"
    assert "preferred_language" not in fhir.case_fields(bundle())["referring_physician"]


@pytest.mark.parametrize(
    ("body", "status", "expression"),
    [
        ([], 400, "Bundle"),
        ({"resourceType": "Bundle", "type": "collection", "entry": []}, 400, "Bundle.type"),
        ({"resourceType": "Bundle", "type": "transaction", "entry": []}, 400, "Bundle.entry"),
        (bundle(Consent=None), 422, "Consent"),
        (bundle(Consent=resource("Consent", status="rejected")), 422, "Consent.status"),
        (bundle(ServiceRequest=resource("ServiceRequest", identifier=[])), 422, None),
        (bundle(ServiceRequest=resource("ServiceRequest", code={"text": "x"})), 422, None),
        (bundle(Patient=resource("Patient", name=[{"given": [CHILD_GIVEN]}])), 422, None),
    ],
)
def test_structural_problems(body: Any, status: int, expression: str | None) -> None:
    error = refused(body)
    assert error.status == status
    if expression:
        assert error.expression == expression
    assert error.outcome()["resourceType"] == "OperationOutcome"


def test_unknown_and_repeated_resources_are_refused() -> None:
    body = bundle()
    body["entry"].append(
        {"resource": {"resourceType": "Observation"}, "request": {"method": "POST"}}
    )
    assert refused(body).issue_type == "not-supported"
    body = bundle()
    body["entry"].append(body["entry"][1])
    assert refused(body).expression == "Bundle.entry[7].resource"
    body = bundle()
    body["entry"][0]["request"]["method"] = "PUT"
    assert refused(body).expression == "Bundle.entry[0].request.method"


def test_schema_failures_are_named_by_their_fhir_element() -> None:
    fields = fhir.case_fields(bundle(Patient=resource("Patient", birthDate="2016-13-40")))
    with pytest.raises(ValidationError) as exc:
        CaseSubmitted.model_validate({**fields, "case_id": "c-1"})
    error = fhir_outcome.invalid_case(exc.value)
    assert error.expression == "Patient.birthDate" and "2016-13-40" not in error.diagnostics
    assert fhir_outcome.fhir_path("questions.3") == "QuestionnaireResponse.item.answer"
    assert fhir_outcome.fhir_path("unknown") == "Bundle"


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    children = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    for key, child in children:
        yield from _paths(child, (*prefix, key))


def test_any_element_of_the_wrong_shape_is_a_fhir_error_never_a_crash() -> None:
    wrong_shapes: list[Any] = ["text", 7, [], {}, None, ["x"], [1], [{}], {"a": 1}]
    base = bundle()
    for path in _paths(base):
        for value in wrong_shapes:
            body = copy.deepcopy(base)
            target = body
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
            try:
                fields = fhir.case_fields(body)
                CaseSubmitted.model_validate({**fields, "case_id": "c-1"})
            except ValidationError as exc:
                assert fhir_outcome.invalid_case(exc).status == 422
            except FhirError:
                pass
