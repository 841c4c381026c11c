"""The FHIR R4 DiagnosticReport: final or amended, a conclusion, and the PDF itself."""

from __future__ import annotations

import base64
import hashlib

import jsonschema

from services.reports.domain import IssuedVersion, Sections
from services.reports.fhir import diagnostic_report
from shared.contracts.report_issued import StoredObject
from tests.unit.reports.factories import LEAD, NOW, complete_sections, opened

# The parts of the FHIR R4 DiagnosticReport and Attachment definitions this resource uses
# (the official fhir.schema.json is not vendored here).
R4_SUBSET = {
    "type": "object",
    "required": ["resourceType", "status", "code"],
    "properties": {
        "resourceType": {"const": "DiagnosticReport"},
        "id": {"type": "string", "pattern": "^[A-Za-z0-9\\-\\.]{1,64}$"},
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


def version(number: int) -> IssuedVersion:
    record = opened()
    stored = StoredObject(bucket="b", key="k", sha256="a" * 64, size_bytes=4, content_type="x/y")
    return IssuedVersion(
        version=number,
        amends_version=number - 1 if number > 1 else None,
        sections=Sections.model_validate(complete_sections(record)),
        language="en",
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
