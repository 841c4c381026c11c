"""The documented shape of `POST /fhir`: a JSON Schema of the Bundle intake reads, each element
described by the case field it becomes, and an example the service accepts (OpenAPI)."""

from __future__ import annotations

from typing import Any, get_args

from services.intake.fhir import RESOURCE_TYPES, SPECIALTY_SYSTEM, STAGE_EXTENSION
from shared.contracts.common import Specialty

SPECIALTIES: list[str] = list(get_args(Specialty))


def _array(items: dict[str, Any], description: str, **more: Any) -> dict[str, Any]:
    return {"type": "array", "items": items, "description": description, **more}


def _obj(description: str, **properties: Any) -> dict[str, Any]:
    return {"type": "object", "description": description, "properties": properties}


TEXT = {"type": "string", "minLength": 1}
HUMAN_NAME = {
    "type": "object",
    "properties": {
        "use": {"type": "string", "description": "`official` is preferred when several."},
        "text": TEXT,
        "prefix": {"type": "array", "items": TEXT},
        "given": {"type": "array", "items": TEXT},
        "family": TEXT,
    },
}
TELECOM = _array(
    {
        "type": "object",
        "properties": {"system": {"enum": ["email", "phone"]}, "value": TEXT},
        "required": ["system", "value"],
    },
    "The first `email` and the first `phone`.",
)


def _resource(kind: str, description: str, required: list[str], **properties: Any) -> Any:
    return {
        "type": "object",
        "title": kind,
        "description": description,
        "required": ["resourceType", *required],
        "properties": {"resourceType": {"const": kind}, **properties},
    }


RESOURCES = [
    _resource(
        "ServiceRequest",
        "The request for a second opinion.",
        ["identifier", "code", "reasonCode"],
        identifier=_array(
            {"type": "object", "properties": {"system": TEXT, "value": TEXT}},
            "The first with a `value` → `hospital_request_id` (and `system` → "
            "`hospital_request_system`): one case per identifier and organization; a repeat "
            "answers 200 with the same case. The report's DiagnosticReport is `basedOn` it.",
            minItems=1,
        ),
        code={
            "type": "object",
            "description": f"A coding in `{SPECIALTY_SYSTEM}` → `specialty`.",
            "properties": {
                "coding": _array(
                    {
                        "type": "object",
                        "properties": {"system": TEXT, "code": TEXT},
                    },
                    f"The coding whose system is `{SPECIALTY_SYSTEM}` has one of: "
                    + ", ".join(f"`{s}`" for s in SPECIALTIES)
                    + ".",
                )
            },
        },
        priority={
            "enum": ["routine", "urgent", "asap", "stat"],
            "description": "→ `urgency`: routine (the default), or urgent for urgent/asap/stat.",
        },
        reasonCode=_array(
            {"type": "object", "properties": {"text": TEXT, "coding": {"type": "array"}}},
            "The first `text` (else a coding's `display`) → `working_diagnosis`.",
            minItems=1,
        ),
        extension=_array(
            {"type": "object", "properties": {"url": TEXT, "valueString": TEXT}},
            f"`url = {STAGE_EXTENSION}`, `valueString` → `diagnosis_stage` (optional).",
        ),
    ),
    _resource(
        "Patient",
        "The child.",
        ["name", "birthDate", "gender"],
        name=_array(
            HUMAN_NAME,
            "`given` (joined) → `patient.given_name`, `family` → `patient.family_name`.",
        ),
        birthDate={
            "type": "string",
            "format": "date",
            "description": "→ `patient.date_of_birth` (up to age 21).",
        },
        gender={"enum": ["female", "male", "other", "unknown"], "description": "→ patient.sex"},
        identifier=_array(
            {
                "type": "object",
                "properties": {"type": {"type": "object"}, "system": TEXT, "value": TEXT},
            },
            "The identifier whose `type.coding` has code `MR` → `patient.mrn` (its `system` → "
            "`patient.mrn_system`); the report names the child by it (optional).",
        ),
        address=_array(
            {"type": "object", "properties": {"country": {"type": "string"}}},
            "The first `country` → `country` (ISO 3166-1 alpha-2, e.g. `US`).",
            minItems=1,
        ),
    ),
    _resource(
        "RelatedPerson",
        "The parent or guardian who speaks for the child: every email goes to them.",
        ["name", "relationship", "telecom"],
        name=_array(HUMAN_NAME, "`text`, else prefix, given and family → `guardian.name`."),
        relationship=_array(
            {"type": "object", "properties": {"text": TEXT, "coding": {"type": "array"}}},
            "`text`, else an HL7 v3 RoleCode (`MTH`, `FTH`, `PRN`, `GUARD`, `GRMTH`, `GRFTH`, "
            "`STPMTH`, `STPFTH`, `FMRL`), else a coding's `display` → `guardian.relationship`.",
        ),
        telecom={
            **TELECOM,
            "description": "`email` → `guardian.email`, `phone` → `guardian.phone` (both needed).",
        },
        communication=_array(
            {
                "type": "object",
                "properties": {"language": {"type": "object"}, "preferred": {"type": "boolean"}},
            },
            "The preferred one's (else the first one's) `language.coding[0].code` (BCP 47, e.g. "
            "`es`) → `guardian.preferred_language`: the language of emails and of the report. "
            "Default `en`.",
        ),
    ),
    _resource(
        "Practitioner",
        "The child's established physician, who receives the report too.",
        ["name", "telecom"],
        name=_array(HUMAN_NAME, "`text`, else prefix, given, family → referring_physician.name."),
        telecom={
            **TELECOM,
            "description": "`email` → `referring_physician.email`, `phone` → "
            "`referring_physician.phone`.",
        },
        communication=_array(
            {"type": "object", "properties": {"coding": {"type": "array"}}},
            "The first one's `coding[0].code` (BCP 47, e.g. `es`) → "
            "`referring_physician.preferred_language`: the language of the physician's emails "
            "and report copy (if absent: English emails, the family's report).",
        ),
    ),
    _resource(
        "Organization",
        "The physician's organization.",
        ["name"],
        name={**TEXT, "description": "→ `referring_physician.organization`."},
    ),
    _resource(
        "QuestionnaireResponse",
        "The family's questions for the experts.",
        ["item"],
        item=_array(
            {"type": "object"},
            "Every `answer[].valueString`, nested items included, in order → `questions` "
            "(1 to 50).",
            minItems=1,
        ),
    ),
    _resource(
        "Consent",
        "The guardian's consent to the review.",
        ["status", "dateTime", "policy"],
        status={"const": "active"},
        dateTime={
            "type": "string",
            "format": "date-time",
            "description": "→ `consent.given_at` (not in the future).",
        },
        performer=_array(
            {"type": "object", "properties": {"display": TEXT}},
            "The first `display` → `consent.given_by` (else the RelatedPerson's name).",
        ),
        policy=_array(
            {"type": "object", "properties": {"uri": TEXT}, "required": ["uri"]},
            "`policy[0].uri` → `consent.text_version`: the version of the platform's consent "
            "text the guardian agreed to, one of the service's `INTAKE_CONSENT_VERSIONS` "
            "(default `2026-01`); any other is refused (422, `Consent.policy`).",
            minItems=1,
        ),
    ),
]


def _one_of_each(kind: str) -> dict[str, Any]:
    entry = {"properties": {"resource": {"properties": {"resourceType": {"const": kind}}}}}
    return {"contains": entry, "minContains": 1, "maxContains": 1}


BUNDLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "FHIR R4 transaction Bundle",
    "description": "One each of " + ", ".join(RESOURCE_TYPES) + ", each a POST entry. What "
    "each element becomes in the case (`case.submitted`) is in its description; other "
    "elements are allowed and ignored. The organization comes from the token.",
    "required": ["resourceType", "type", "entry"],
    "properties": {
        "resourceType": {"const": "Bundle"},
        "type": {"const": "transaction"},
        "entry": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["resource", "request"],
                "properties": {
                    "fullUrl": {"type": "string"},
                    "resource": {"oneOf": RESOURCES},
                    "request": {
                        "type": "object",
                        "required": ["method"],
                        "properties": {"method": {"const": "POST"}, "url": {"type": "string"}},
                    },
                },
            },
            "allOf": [_one_of_each(kind) for kind in RESOURCE_TYPES],
        },
    },
}


def _entry(resource: dict[str, Any]) -> dict[str, Any]:
    kind = resource["resourceType"]
    return {
        "fullUrl": f"urn:uuid:{kind.lower()}-1",
        "resource": resource,
        "request": {"method": "POST", "url": kind},
    }


# A made-up child and family.
EXAMPLE: dict[str, Any] = {
    "resourceType": "Bundle",
    "type": "transaction",
    "entry": [
        _entry(resource)
        for resource in (
            {
                "resourceType": "ServiceRequest",
                "status": "active",
                "intent": "order",
                "identifier": [{"system": "urn:oid:2.16.840.1.113883.3.999", "value": "SR-2041"}],
                "priority": "urgent",
                "code": {"coding": [{"system": SPECIALTY_SYSTEM, "code": "neuro-oncology"}]},
                "reasonCode": [{"text": "Medulloblastoma, WNT-activated"}],
                "extension": [{"url": STAGE_EXTENSION, "valueString": "M0"}],
                "subject": {"reference": "urn:uuid:patient-1"},
            },
            {
                "resourceType": "Patient",
                "identifier": [
                    {
                        "type": {"coding": [{"code": "MR"}]},
                        "system": "urn:oid:2.16.840.1.113883.3.999.1",
                        "value": "MRN-0042-7781",
                    }
                ],
                "name": [{"use": "official", "given": ["Sam"], "family": "Example"}],
                "birthDate": "2017-05-02",
                "gender": "male",
                "address": [{"country": "US"}],
            },
            {
                "resourceType": "RelatedPerson",
                "patient": {"reference": "urn:uuid:patient-1"},
                "relationship": [{"coding": [{"code": "MTH"}]}],
                "name": [{"given": ["Ana"], "family": "Example"}],
                "telecom": [
                    {"system": "email", "value": "ana.example@example.org"},
                    {"system": "phone", "value": "+1 555 010 0100"},
                ],
                "communication": [{"language": {"coding": [{"code": "es"}]}, "preferred": True}],
            },
            {
                "resourceType": "Practitioner",
                "name": [{"prefix": ["Dr."], "given": ["Lee"], "family": "Example"}],
                "telecom": [
                    {"system": "email", "value": "lee@clinic.example.org"},
                    {"system": "phone", "value": "+1 555 010 0199"},
                ],
            },
            {"resourceType": "Organization", "name": "Example Children's Clinic"},
            {
                "resourceType": "QuestionnaireResponse",
                "status": "completed",
                "item": [
                    {"linkId": "q1", "answer": [{"valueString": "Is proton therapy an option?"}]}
                ],
            },
            {
                "resourceType": "Consent",
                "status": "active",
                "dateTime": "2026-01-15T10:00:00Z",
                "performer": [{"display": "Ana Example"}],
                "policy": [{"uri": "2026-01"}],
            },
        )
    ],
}
