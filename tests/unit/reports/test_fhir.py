"""The FHIR R4 DiagnosticReport: final or amended, a conclusion, and the PDF itself."""

from __future__ import annotations

import base64
import hashlib

import jsonschema

from services.reports.domain import IssuedVersion, Sections
from services.reports.fhir import CASE_SYSTEM, V2_0203, diagnostic_report
from shared.contracts.report_issued import StoredObject
from tests.support import sample_case
from tests.unit.reports.factories import LEAD, NOW, complete_sections, opened

# FHIR R4 Identifier and Reference (by identifier), as this resource uses them.
IDENTIFIER = {
    "type": "object",
    "required": ["value"],
    "additionalProperties": False,
    "properties": {
        "system": {"type": "string", "pattern": "^\\S*$"},
        "value": {"type": "string", "pattern": "^[ \\r\\n\\t\\S]+$"},
        "type": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "coding": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"system": {"type": "string"}, "code": {"type": "string"}},
                    },
                }
            },
        },
    },
}
REFERENCE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["identifier"],
    "properties": {"type": {"type": "string"}, "identifier": IDENTIFIER},
}
# The parts of the FHIR R4 DiagnosticReport and Attachment definitions this resource uses
# (the official fhir.schema.json is not vendored here).
R4_SUBSET = {
    "type": "object",
    "required": ["resourceType", "status", "code"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "pattern": "^[A-Za-z0-9\\-\\.]{1,64}$"},
        "meta": {"type": "object"},
        "language": {"type": "string"},
        "identifier": {"type": "array", "items": IDENTIFIER},
        "basedOn": {"type": "array", "minItems": 1, "items": {
            **REFERENCE, "properties": {**REFERENCE["properties"], "type": {
                "const": "ServiceRequest"}},
        }},
        "subject": REFERENCE,
        "performer": {"type": "array"},
        "resourceType": {"const": "DiagnosticReport"},
        "status": {
            "enum": [
                "registered", "partial", "preliminary", "final", "amended",
                "corrected", "appended", "cancelled", "entered-in-error", "unknown",
            ]
        },
        "code": {"type": "object", "properties": {"coding": {"type": "array"}}},
        "issued": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T"},
        "conclusion": {"type": "string"},
        "presentedForm": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "contentType": {"type": "string", "pattern": "^[^\\s]+(\\s[^\\s]+)*$"},
                    "data": {"type": "string", "contentEncoding": "base64"},
                    "size": {"type": "integer", "minimum": 0},
                    "hash": {"type": "string"},
                },
                "additionalProperties": False,
                "patternProperties": {"^(language|title|creation)$": {"type": "string"}},
            },
        },
    },
}  # fmt: skip


def version(number: int, language: str = "en") -> IssuedVersion:
    record = opened()
    stored = StoredObject(bucket="b", key="k", sha256="a" * 64, size_bytes=4, content_type="x/y")
    return IssuedVersion(
        version=number,
        amends_version=number - 1 if number > 1 else None,
        sections=Sections.model_validate(complete_sections(record)),
        language=language,
        signed_by=LEAD,
        issued_at=NOW,
        html=stored,
        pdf=stored,
    )


def test_a_first_version_is_final_and_carries_the_pdf() -> None:
    pdf = b"%PDF-1.7 fake"
    resource = diagnostic_report(opened(), version(1), pdf)
    jsonschema.validate(resource, R4_SUBSET)
    assert resource["status"] == "final" and resource["id"] == "rpt-case-0001"
    assert resource["conclusion"].startswith("The diagnosis is refined: Medulloblastoma")
    form = resource["presentedForm"][0]
    assert base64.b64decode(form["data"]) == pdf
    assert form["hash"] == base64.b64encode(hashlib.sha1(pdf).digest()).decode()


def test_an_amendment_is_amended() -> None:
    resource = diagnostic_report(opened(), version(2), b"%PDF")
    jsonschema.validate(resource, R4_SUBSET)
    assert resource["status"] == "amended" and resource["meta"]["versionId"] == "2"


def test_the_report_names_the_hospitals_order_and_patient_in_the_familys_language() -> None:
    patient = sample_case().patient.model_copy(
        update={"mrn": "MRN-77-1234", "mrn_system": "urn:oid:1.2.3.4.5"}
    )
    record = opened(
        language="es",
        patient=patient,
        organization_id="org-valley",
        hospital_request_id="REQ-9",
        hospital_request_system="urn:oid:1.2.3.4",
    )
    resource = diagnostic_report(record, version(1, "es"), b"%PDF")
    jsonschema.validate(resource, R4_SUBSET)
    assert resource["language"] == "es"
    assert resource["conclusion"].startswith("Se precisa el diagnóstico: Medulloblastoma")
    assert resource["conclusion"].endswith("se modifica el plan de tratamiento actual.")
    assert resource["basedOn"] == [
        {
            "type": "ServiceRequest",
            "identifier": {"system": "urn:oid:1.2.3.4", "value": "REQ-9"},
        }
    ]
    assert resource["subject"] == {
        "type": "Patient",
        "identifier": {
            "type": {"coding": [{"system": V2_0203, "code": "MR"}]},
            "system": "urn:oid:1.2.3.4.5",
            "value": "MRN-77-1234",
        },
    }
    # The platform's case stays findable.
    assert {"system": CASE_SYSTEM, "value": "case-0001"} in resource["identifier"]


def test_without_the_hospitals_identifiers_the_subject_is_the_case() -> None:
    no_mrn = sample_case().patient.model_copy(update={"mrn": None})
    resource = diagnostic_report(opened(patient=no_mrn), version(1), b"%PDF")
    jsonschema.validate(resource, R4_SUBSET)
    assert "basedOn" not in resource
    assert resource["subject"] == {
        "type": "Patient",
        "identifier": {"system": CASE_SYSTEM, "value": "case-0001"},
    }
    assert resource["conclusion"].endswith("the current treatment plan is modified.")
