"""FHIR R4 transaction Bundles into the fields of a case. No I/O.

A hospital sends one Bundle (type `transaction`) with one each of ServiceRequest, Patient,
RelatedPerson, Practitioner, Organization, QuestionnaireResponse (the family's questions) and
Consent. The specialty is a coding in `SPECIALTY_SYSTEM` on `ServiceRequest.code`; the
hospital's request identifier (`ServiceRequest.identifier`) de-duplicates resubmissions.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from services.intake.fhir_outcome import FhirError

SPECIALTY_SYSTEM = "urn:second-opinion:specialty"
STAGE_EXTENSION = "urn:second-opinion:diagnosis-stage"
RESOURCE_TYPES = (
    "ServiceRequest",
    "Patient",
    "RelatedPerson",
    "Practitioner",
    "Organization",
    "QuestionnaireResponse",
    "Consent",
)
URGENT_PRIORITIES = {"urgent", "asap", "stat"}
# HL7 v3 RoleCode for the usual relationships of the person who speaks for the child.
RELATIONSHIPS = {
    "MTH": "mother",
    "FTH": "father",
    "PRN": "parent",
    "GUARD": "legal guardian",
    "GRMTH": "grandmother",
    "GRFTH": "grandfather",
    "STPMTH": "stepmother",
    "STPFTH": "stepfather",
    "FMRL": "family member",
}


def case_fields(bundle: Any) -> dict[str, Any]:
    """The case fields (as for `CaseSubmitted`, without id and origin) a Bundle carries."""
    resources = _resources(bundle)
    request, patient = resources["ServiceRequest"], resources["Patient"]
    given, family = _person_name(patient, "Patient")
    fields: dict[str, Any] = {
        "patient": {
            "given_name": given,
            "family_name": family,
            "date_of_birth": patient.get("birthDate"),
            "sex": patient.get("gender"),
            **_mrn(patient),
        },
        "guardian": _guardian(resources["RelatedPerson"]),
        "referring_physician": {
            "name": _full_name(resources["Practitioner"], "Practitioner"),
            "organization": resources["Organization"].get("name"),
            **_telecom(resources["Practitioner"]),
            **_physician_language(resources["Practitioner"]),
        },
        "specialty": _specialty(request),
        "working_diagnosis": _first_text(request.get("reasonCode"), "ServiceRequest.reasonCode"),
        "diagnosis_stage": _extension(request, STAGE_EXTENSION),
        "urgency": _urgency(request),
        "questions": list(_answers(resources["QuestionnaireResponse"].get("item"))),
        "consent": _consent(resources["Consent"], resources["RelatedPerson"]),
        "country": _country(patient),
        **_request_identifier(request),
    }
    return fields


def _resources(bundle: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise FhirError(400, "structure", "the body must be a FHIR Bundle", "Bundle")
    if bundle.get("type") != "transaction":
        raise FhirError(400, "structure", "the Bundle must be of type transaction", "Bundle.type")
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        raise FhirError(400, "required", "the Bundle has no entries", "Bundle.entry")
    found: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(entries):
        where = f"Bundle.entry[{index}]"
        resource = _obj(entry).get("resource")
        if not isinstance(resource, dict):
            raise FhirError(400, "structure", "each entry needs a resource", f"{where}.resource")
        if _obj(_obj(entry).get("request")).get("method") != "POST":
            raise FhirError(
                400, "structure", "each entry must be a POST request", f"{where}.request.method"
            )
        kind = resource.get("resourceType")
        if not isinstance(kind, str) or kind not in RESOURCE_TYPES:
            raise FhirError(
                422,
                "not-supported",
                "resource types allowed: " + ", ".join(RESOURCE_TYPES),
                f"{where}.resource.resourceType",
            )
        if kind in found:
            raise FhirError(422, "invalid", f"only one {kind} is allowed", f"{where}.resource")
        found[kind] = resource
    for kind in RESOURCE_TYPES:
        if kind not in found:
            raise FhirError(422, "required", f"the Bundle needs a {kind}", kind)
    return found


def _obj(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one (the schema check names the field)."""
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> list[dict[str, Any]]:
    """The objects of a JSON array (anything else counts as absent)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _names(resource: dict[str, Any]) -> dict[str, Any]:
    names = _items(resource.get("name"))
    official = [n for n in names if n.get("use") == "official"]
    return (official or names or [{}])[0]


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _person_name(resource: dict[str, Any], kind: str) -> tuple[str, str]:
    name = _names(resource)
    given, family = _strings(name.get("given")), name.get("family")
    if not given or not isinstance(family, str) or not family:
        raise FhirError(422, "required", f"{kind}.name needs given and family", f"{kind}.name")
    return " ".join(given), family


def _full_name(resource: dict[str, Any], kind: str) -> str:
    name = _names(resource)
    text = name.get("text")
    if isinstance(text, str) and text.strip():
        return text
    family = name.get("family") if isinstance(name.get("family"), str) else ""
    parts = [*_strings(name.get("prefix")), *_strings(name.get("given")), family]
    joined = " ".join(p for p in parts if p)
    if not joined:
        raise FhirError(422, "required", f"{kind}.name is missing", f"{kind}.name")
    return joined


def _telecom(resource: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for point in _items(resource.get("telecom")):
        system = point.get("system")
        if system in ("email", "phone"):
            found.setdefault(str(system), point.get("value"))
    return found


def _guardian(person: dict[str, Any]) -> dict[str, Any]:
    guardian = {
        "name": _full_name(person, "RelatedPerson"),
        "relationship": _relationship(person),
        **_telecom(person),
    }
    languages = [
        (bool(item.get("preferred")), coding.get("code"))
        for item in _items(person.get("communication"))
        for coding in _items(_obj(item.get("language")).get("coding"))[:1]
    ]
    if languages:
        preferred = [code for is_preferred, code in languages if is_preferred]
        guardian["preferred_language"] = (preferred or [languages[0][1]])[0]
    return guardian


def _physician_language(practitioner: dict[str, Any]) -> dict[str, Any]:
    """Practitioner.communication (R4: CodeableConcepts): the first language's code."""
    for concept in _items(practitioner.get("communication")):
        for coding in _items(_obj(concept).get("coding"))[:1]:
            if coding.get("code"):
                return {"preferred_language": coding["code"]}
    return {}


def _relationship(person: dict[str, Any]) -> Any:
    for concept in _items(person.get("relationship")):
        if concept.get("text"):
            return concept["text"]
        for coding in _items(concept.get("coding")):
            code = coding.get("code")
            if isinstance(code, str) and code in RELATIONSHIPS:
                return RELATIONSHIPS[code]
            if coding.get("display"):
                return coding["display"]
    return None


def _mrn(patient: dict[str, Any]) -> dict[str, Any]:
    """The identifier typed MR (v2-0203), with its system if it has one."""
    for identifier in _items(patient.get("identifier")):
        codings = _items(_obj(identifier.get("type")).get("coding"))
        if any(c.get("code") == "MR" for c in codings):
            return {"mrn": identifier.get("value"), "mrn_system": identifier.get("system")}
    return {}


def _country(patient: dict[str, Any]) -> Any:
    for address in _items(patient.get("address")):
        if address.get("country"):
            return address["country"]
    return None


def _specialty(request: dict[str, Any]) -> Any:
    for coding in _items(_obj(request.get("code")).get("coding")):
        if coding.get("system") == SPECIALTY_SYSTEM:
            return coding.get("code")
    raise FhirError(
        422,
        "required",
        f"ServiceRequest.code needs a coding in {SPECIALTY_SYSTEM}",
        "ServiceRequest.code",
    )


def _urgency(request: dict[str, Any]) -> str:
    priority = request.get("priority", "routine")
    if priority == "routine":
        return "routine"
    if isinstance(priority, str) and priority in URGENT_PRIORITIES:
        return "urgent"
    raise FhirError(
        422,
        "value",
        "ServiceRequest.priority must be routine, urgent, asap or stat",
        "ServiceRequest.priority",
    )


def _request_identifier(request: dict[str, Any]) -> dict[str, Any]:
    for identifier in _items(request.get("identifier")):
        if identifier.get("value"):
            return {
                "hospital_request_id": identifier["value"],
                "hospital_request_system": identifier.get("system"),
            }
    raise FhirError(
        422,
        "required",
        "ServiceRequest.identifier names the request in the hospital's system",
        "ServiceRequest.identifier",
    )


def _first_text(concepts: Any, where: str) -> Any:
    for concept in _items(concepts):
        if concept.get("text"):
            return concept["text"]
        for coding in _items(concept.get("coding")):
            if coding.get("display"):
                return coding["display"]
    raise FhirError(422, "required", f"{where} needs a text", where)


def _extension(resource: dict[str, Any], url: str) -> Any:
    for extension in _items(resource.get("extension")):
        if extension.get("url") == url:
            return extension.get("valueString")
    return None


def _answers(items: Any) -> Iterator[Any]:
    for item in _items(items):
        for answer in _items(item.get("answer")):
            if "valueString" in answer:
                yield answer["valueString"]
        yield from _answers(item.get("item"))


def _consent(consent: dict[str, Any], person: dict[str, Any]) -> dict[str, Any]:
    if consent.get("status") != "active":
        raise FhirError(422, "business-rule", "Consent.status must be active", "Consent.status")
    performers = _items(consent.get("performer"))
    given_by = performers[0].get("display") if performers else None
    policies = _items(consent.get("policy"))
    version = policies[0].get("uri") if policies else None
    if version is None:
        version = _obj(consent.get("policyRule")).get("text")
    return {
        "given_by": given_by or _full_name(person, "RelatedPerson"),
        "given_at": consent.get("dateTime"),
        "text_version": version,
    }
