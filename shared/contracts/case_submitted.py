"""`case.submitted`: a family, a physician or a hospital system asks for a second opinion."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from shared.contracts.common import (
    CaseId,
    CountryCode,
    Email,
    LanguageTag,
    LongText,
    Phone,
    Sha256Hex,
    ShortText,
    Specialty,
    TimeZoneName,
    Urgency,
)
from shared.contracts.financial_clearance_updated import ServiceType
from shared.envelope import Payload


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _known_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("not a time zone name (IANA), e.g. Europe/Paris") from None
    return name


# A zone the tz database knows, so every date a person is shown can be written in it.
KnownTimeZone = Annotated[TimeZoneName, AfterValidator(_known_zone)]


class Patient(_Part):
    given_name: ShortText
    family_name: ShortText
    date_of_birth: date
    sex: Literal["female", "male", "other", "unknown"]
    mrn: ShortText | None = Field(default=None, description="Medical record number, if known.")
    mrn_system: ShortText | None = Field(
        default=None,
        description="The namespace of `mrn` (a FHIR Identifier.system, e.g. the hospital's "
        "OID), if the hospital sent one; the report names the patient with both.",
    )


class Guardian(_Part):
    name: ShortText
    relationship: ShortText = Field(description="e.g. mother, father, legal guardian")
    email: Email
    phone: Phone
    preferred_language: LanguageTag = "en"
    time_zone: KnownTimeZone | None = Field(
        default=None,
        description="IANA time zone the family reads dates in (emails, report); UTC if absent.",
    )
    interpreter_needed: bool = Field(
        default=False, description="The family asks for an interpreter when talking with staff."
    )
    interpreter_language: LanguageTag | None = Field(
        default=None, description="The language the interpreter should speak, if one is needed."
    )


class ReferringPhysician(_Part):
    """The child's established local physician, who receives the report too."""

    name: ShortText
    organization: ShortText
    email: Email
    phone: Phone
    preferred_language: LanguageTag | None = Field(
        default=None,
        description="The language of the physician's emails and report; if absent, emails "
        "are in English and the report is the family's.",
    )
    time_zone: KnownTimeZone | None = Field(
        default=None, description="IANA time zone the physician reads dates in; UTC if absent."
    )


class Consent(_Part):
    given_by: ShortText
    given_at: AwareDatetime
    text_version: ShortText
    language: LanguageTag | None = Field(
        default=None, description="The language of the consent text agreed to."
    )
    text_sha256: Sha256Hex | None = Field(
        default=None,
        description="SHA-256 of the exact consent text agreed to (intake's `GET /consent`); "
        "intake refuses a hash that is not its text of that version and language.",
    )


class CaseSubmitted(Payload):
    """A family, a referring physician or a hospital system asks for a second opinion."""

    event_type = "case.submitted"
    schema_version = 1

    case_id: CaseId
    patient: Patient
    guardian: Guardian
    referring_physician: ReferringPhysician
    specialty: Specialty
    working_diagnosis: LongText
    diagnosis_stage: ShortText | None = None
    urgency: Urgency
    questions: list[LongText] = Field(min_length=1, max_length=50)
    consent: Consent
    country: CountryCode
    submitted_via: Literal["family", "physician", "hospital-system", "fhir"] = "family"
    organization_id: ShortText | None = Field(
        default=None, description="The submitting hospital system's organization, if any."
    )
    hospital_request_id: ShortText | None = Field(
        default=None,
        description="The hospital's own request identifier (its ServiceRequest's), for "
        "de-duplication; the report's FHIR DiagnosticReport is `basedOn` it.",
    )
    hospital_request_system: ShortText | None = Field(
        default=None,
        description="The namespace of `hospital_request_id` (a FHIR Identifier.system), if "
        "the hospital sent one.",
    )
    service_type: ServiceType | None = Field(
        default=None,
        description="What is asked for, for the fee estimate (a written second opinion if "
        "not said).",
    )
    financial_clearance_required: bool | None = Field(
        default=None,
        description="Set by intake: the program requires financial clearance, so the case is "
        "offered to an expert only after `financial_clearance.updated` says cleared.",
    )
