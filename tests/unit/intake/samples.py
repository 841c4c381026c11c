"""Sample requests for the intake tests: a request form and a FHIR transaction Bundle.

The names and numbers are distinctive so a test can assert that no answer ever repeats them.
"""

from __future__ import annotations

import copy
from typing import Any

from services.intake.fhir import SPECIALTY_SYSTEM, STAGE_EXTENSION

CHILD_GIVEN = "Amelia"
CHILD_FAMILY = "Quinterofake"
BIRTH_DATE = "2016-04-09"
GUARDIAN_EMAIL = "rosa.parent@example.org"

FORM: dict[str, Any] = {
    "submitted_by": "guardian",
    "patient": {
        "given_name": CHILD_GIVEN,
        "family_name": CHILD_FAMILY,
        "date_of_birth": BIRTH_DATE,
        "sex": "female",
    },
    "guardian": {
        "name": "Rosa Quinterofake",
        "relationship": "mother",
        "email": GUARDIAN_EMAIL,
        "phone": "+1 614 555 0100",
        "preferred_language": "es",
    },
    "referring_physician": {
        "name": "Dr. Lee Example",
        "organization": "Valley Pediatrics",
        "email": "lee@valley.example.org",
        "phone": "+1 614 555 0199",
    },
    "specialty": "neuro-oncology",
    "working_diagnosis": "Medulloblastoma, WNT-activated",
    "diagnosis_stage": "M0",
    "urgency": "routine",
    "questions": ["Is proton therapy an option?", "Are there clinical trials?"],
    "country": "MX",
    "consent": {"agreed": True, "given_by": "Rosa Quinterofake", "text_version": "2026-01"},
}


def form(**changes: Any) -> dict[str, Any]:
    """The sample form; `changes` use dotted paths, e.g. `**{"patient.sex": "x"}`; a value of
    `DROP` removes the field."""
    body = copy.deepcopy(FORM)
    for path, value in changes.items():
        *parents, last = path.split(".")
        target = body
        for part in parents:
            target = target[part]
        if value is DROP:
            del target[last]
        else:
            target[last] = value
    return body


DROP = object()


def bundle(request_id: str = "REQ-1001", **changes: Any) -> dict[str, Any]:
    """A FHIR R4 transaction Bundle for the sample child; `changes` replace whole resources
    by type (None removes one)."""
    resources: dict[str, dict[str, Any] | None] = {
        "ServiceRequest": {
            "resourceType": "ServiceRequest",
            "status": "active",
            "intent": "order",
            "identifier": [{"system": "urn:oid:1.2.3.4", "value": request_id}],
            "priority": "routine",
            "code": {"coding": [{"system": SPECIALTY_SYSTEM, "code": "oncology"}]},
            "reasonCode": [{"text": "Hodgkin lymphoma"}],
            "extension": [{"url": STAGE_EXTENSION, "valueString": "IIA"}],
            "subject": {"reference": "urn:uuid:patient-1"},
        },
        "Patient": {
            "resourceType": "Patient",
            "identifier": [
                {
                    "type": {"coding": [{"code": "MR"}]},
                    "system": "urn:oid:1.2.3.4.5",
                    "value": "MRN-77-1234",
                },
            ],
            "name": [{"use": "official", "given": [CHILD_GIVEN], "family": CHILD_FAMILY}],
            "birthDate": BIRTH_DATE,
            "gender": "female",
            "address": [{"country": "US"}],
        },
        "RelatedPerson": {
            "resourceType": "RelatedPerson",
            "patient": {"reference": "urn:uuid:patient-1"},
            "relationship": [{"coding": [{"code": "MTH"}]}],
            "name": [{"given": ["Rosa"], "family": CHILD_FAMILY}],
            "telecom": [
                {"system": "email", "value": GUARDIAN_EMAIL},
                {"system": "phone", "value": "+1 614 555 0100"},
            ],
            "communication": [{"language": {"coding": [{"code": "es"}]}, "preferred": True}],
        },
        "Practitioner": {
            "resourceType": "Practitioner",
            "name": [{"prefix": ["Dr."], "given": ["Lee"], "family": "Example"}],
            "telecom": [
                {"system": "email", "value": "lee@valley.example.org"},
                {"system": "phone", "value": "+1 614 555 0199"},
            ],
        },
        "Organization": {"resourceType": "Organization", "name": "Valley Pediatrics"},
        "QuestionnaireResponse": {
            "resourceType": "QuestionnaireResponse",
            "status": "completed",
            "item": [
                {"linkId": "q1", "answer": [{"valueString": "Is radiation needed?"}]},
                {"linkId": "q2", "answer": [{"valueString": "What are the late effects?"}]},
            ],
        },
        "Consent": {
            "resourceType": "Consent",
            "status": "active",
            "dateTime": "2026-11-01T10:00:00Z",
            "performer": [{"display": "Rosa Quinterofake"}],
            "policy": [{"uri": "2026-01"}],
        },
    }
    resources.update(changes)
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"urn:uuid:{kind.lower()}-1",
                "resource": resource,
                "request": {"method": "POST", "url": kind},
            }
            for kind, resource in resources.items()
            if resource is not None
        ],
    }
