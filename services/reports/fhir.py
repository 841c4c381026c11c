"""The latest issued version of a report as a FHIR R4 DiagnosticReport (pure)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from services.reports.domain import CaseFacts, IssuedVersion, ReportRecord
from services.reports.i18n import LABELS

CASE_SYSTEM = "urn:second-opinion:case"
REPORT_SYSTEM = "urn:second-opinion:report"
EXPERT_SYSTEM = "urn:second-opinion:expert"
# HL7 v2 table 0203 (identifier type): MR is a medical record number.
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"


def diagnostic_report(record: ReportRecord, version: IssuedVersion, pdf: bytes) -> dict[str, Any]:
    """status final (amended from version 2), the conclusion in the report's language, the
    hospital's order (`basedOn`) and patient (`subject`, by MRN) when it sent them, and the
    PDF as presentedForm."""
    s = version.sections
    t = LABELS.get(version.language, LABELS["en"])
    diagnosis = s.diagnosis.proposed_diagnosis or s.diagnosis.original_diagnosis
    concordance = t["conclusion_" + (s.diagnosis.concordance or "confirmed")]
    plan = t["conclusion_plan_" + (s.treatment.plan_change or "none")]
    conclusion = f"{concordance}: {diagnosis}; {plan}."
    issued = version.issued_at.isoformat()
    return {
        "resourceType": "DiagnosticReport",
        "id": record.report_id,
        "meta": {"versionId": str(version.version), "lastUpdated": issued},
        "language": version.language,
        "identifier": [
            {"system": REPORT_SYSTEM, "value": f"{record.report_id}/v{version.version}"},
            {"system": CASE_SYSTEM, "value": record.case_id},
        ],
        "status": "amended" if version.amends_version else "final",
        "code": {
            "coding": [
                {"system": "http://loinc.org", "code": "11488-4", "display": "Consult note"}
            ],
            "text": "Remote second opinion",
        },
        **_based_on(record.facts),
        "subject": {"type": "Patient", "identifier": _patient_identifier(record)},
        "issued": issued,
        "performer": [
            {
                "identifier": {"system": EXPERT_SYSTEM, "value": version.signed_by.expert_id},
                "display": version.signed_by.display_name,
            }
        ],
        "conclusion": conclusion,
        "presentedForm": [
            {
                "contentType": "application/pdf",
                "language": version.language,
                "data": base64.b64encode(pdf).decode(),
                "size": len(pdf),
                # FHIR's Attachment.hash is SHA-1; the SHA-256 is in report.issued.
                "hash": base64.b64encode(hashlib.sha1(pdf).digest()).decode(),
                "title": f"{record.report_id}-v{version.version}.pdf",
                "creation": issued,
            }
        ],
    }


def _identifier(system: str | None, value: str) -> dict[str, Any]:
    return {"system": system, "value": value} if system else {"value": value}


def _based_on(facts: CaseFacts | None) -> dict[str, Any]:
    """The hospital's ServiceRequest, by the identifier it sent (nothing if it sent none)."""
    if facts is None or facts.hospital_request_id is None:
        return {}
    identifier = _identifier(facts.hospital_request_system, facts.hospital_request_id)
    return {"basedOn": [{"type": "ServiceRequest", "identifier": identifier}]}


def _patient_identifier(record: ReportRecord) -> dict[str, Any]:
    """The child's MRN as the hospital sent it, else the platform's case id."""
    facts = record.facts
    if facts is None or facts.mrn is None:
        return {"system": CASE_SYSTEM, "value": record.case_id}
    mrn_type = {"coding": [{"system": V2_0203, "code": "MR"}]}
    return {"type": mrn_type, **_identifier(facts.mrn_system, facts.mrn)}
