"""The latest issued version of a report as a FHIR R4 DiagnosticReport (pure)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from services.reports.domain import IssuedVersion, ReportRecord

CASE_SYSTEM = "urn:second-opinion:case"
REPORT_SYSTEM = "urn:second-opinion:report"
EXPERT_SYSTEM = "urn:second-opinion:expert"
CONCLUSIONS = {
    "confirmed": "The diagnosis is confirmed",
    "refined": "The diagnosis is refined",
    "changed": "The diagnosis is changed",
}
PLAN = {
    "none": "no change to the current treatment plan",
    "modified": "the current treatment plan is modified",
    "changed": "a different treatment plan is recommended",
}


def diagnostic_report(record: ReportRecord, version: IssuedVersion, pdf: bytes) -> dict[str, Any]:
    """status final (amended from version 2), the conclusion, and the PDF as presentedForm."""
    s = version.sections
    diagnosis = s.diagnosis.proposed_diagnosis or s.diagnosis.original_diagnosis
    conclusion = (
        f"{CONCLUSIONS[s.diagnosis.concordance or 'confirmed']}: {diagnosis}; "
        f"{PLAN[s.treatment.plan_change or 'none']}."
    )
    issued = version.issued_at.isoformat()
    return {
        "resourceType": "DiagnosticReport",
        "id": record.report_id,
        "meta": {"versionId": str(version.version), "lastUpdated": issued},
        "language": version.language,
        "identifier": [
            {"system": REPORT_SYSTEM, "value": f"{record.report_id}/v{version.version}"}
        ],
        "status": "amended" if version.amends_version else "final",
        "code": {
            "coding": [
                {"system": "http://loinc.org", "code": "11488-4", "display": "Consult note"}
            ],
            "text": "Remote second opinion",
        },
        "subject": {"identifier": {"system": CASE_SYSTEM, "value": record.case_id}},
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
