"""FHIR errors: an OperationOutcome naming the element at fault (never its value), and where
each field of a case comes from in a Bundle."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

# Where each field of the case comes from, to name it in an OperationOutcome.
FHIR_PATHS = {
    "patient.given_name": "Patient.name.given",
    "patient.family_name": "Patient.name.family",
    "patient.date_of_birth": "Patient.birthDate",
    "patient.sex": "Patient.gender",
    "patient.mrn": "Patient.identifier",
    "patient.mrn_system": "Patient.identifier",
    "guardian.name": "RelatedPerson.name",
    "guardian.relationship": "RelatedPerson.relationship",
    "guardian.email": "RelatedPerson.telecom",
    "guardian.phone": "RelatedPerson.telecom",
    "guardian.preferred_language": "RelatedPerson.communication.language",
    "referring_physician.preferred_language": "Practitioner.communication",
    "referring_physician.name": "Practitioner.name",
    "referring_physician.organization": "Organization.name",
    "referring_physician.email": "Practitioner.telecom",
    "referring_physician.phone": "Practitioner.telecom",
    "specialty": "ServiceRequest.code",
    "working_diagnosis": "ServiceRequest.reasonCode",
    "diagnosis_stage": "ServiceRequest.extension",
    "urgency": "ServiceRequest.priority",
    "questions": "QuestionnaireResponse.item.answer",
    "consent.given_by": "Consent.performer",
    "consent.given_at": "Consent.dateTime",
    "consent.text_version": "Consent.policy",
    "country": "Patient.address.country",
    "hospital_request_id": "ServiceRequest.identifier",
    "hospital_request_system": "ServiceRequest.identifier",
}


class FhirError(Exception):
    """One OperationOutcome issue: an HTTP status, a FHIR issue type, and where (no values)."""

    def __init__(
        self, status: int, issue_type: str, diagnostics: str, expression: str | None = None
    ) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.issue_type = issue_type
        self.diagnostics = diagnostics
        self.expression = expression

    def outcome(self) -> dict[str, Any]:
        return operation_outcome(self.issue_type, self.diagnostics, self.expression)


def operation_outcome(
    issue_type: str, diagnostics: str, expression: str | None = None, severity: str = "error"
) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": severity, "code": issue_type, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def fhir_path(field: str) -> str:
    """The FHIR element a case field came from (`questions.2` -> the answers)."""
    parts = field.split(".")
    for cut in range(len(parts), 0, -1):
        path = FHIR_PATHS.get(".".join(parts[:cut]))
        if path:
            return path
    return "Bundle"


def invalid_case(exc: ValidationError) -> FhirError:
    """The first schema failure of the mapped case, named by its FHIR element."""
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"])
    return FhirError(422, "invalid", f"{fhir_path(field)}: {first['msg']}", fhir_path(field))
