"""Does an image belong to this child? Compare DICOM patient attributes with the case.

Findings are attribute names only ("PatientName"), never the values that disagreed.
Names are compared leniently (accents, case, punctuation, order of compound surnames, extra
middle names), because a hospital abroad spells a name its own way; a real difference still shows.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class CasePatient:
    given_name: str
    family_name: str
    date_of_birth: date
    mrn: str | None = None


@dataclass(frozen=True)
class DicomPatient:
    """The raw patient attributes of one instance (PN and DA as written in the file)."""

    name: str = ""
    birth_date: str = ""
    patient_id: str = ""
    other_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class IdentityResult:
    checked: tuple[str, ...]
    mismatched: tuple[str, ...]


def compare_identity(case: CasePatient, dicom: DicomPatient) -> IdentityResult:
    """Which attributes could be compared, and which of those disagree with the case."""
    checked: list[str] = []
    mismatched: list[str] = []
    if dicom.name.strip("^= "):
        checked.append("PatientName")
        if not names_match(case.given_name, case.family_name, dicom.name):
            mismatched.append("PatientName")
    if dicom.birth_date.strip():
        checked.append("PatientBirthDate")
        if dicom.birth_date.strip() != case.date_of_birth.strftime("%Y%m%d"):
            mismatched.append("PatientBirthDate")
    if case.mrn and dicom.patient_id.strip():
        checked.append("PatientID")
        known = {_identifier(i) for i in (dicom.patient_id, *dicom.other_ids)}
        if _identifier(case.mrn) not in known:
            mismatched.append("PatientID")
    return IdentityResult(tuple(checked), tuple(mismatched))


def names_match(given_name: str, family_name: str, person_name: str) -> bool:
    """True when a DICOM PN value plausibly names this child."""
    # Only the alphabetic group: ideographic and phonetic groups follow `=`.
    alphabetic = person_name.split("=")[0]
    given, family = _tokens(given_name), set(_tokens(family_name))
    if not given or not family:
        return False
    if "^" not in alphabetic:
        # Some systems write "FAMILY GIVEN" with no component separator.
        words = set(_tokens(alphabetic))
        return family <= words and given[0] in words
    components = alphabetic.split("^")
    dicom_family = set(_tokens(components[0]))
    dicom_given = _tokens(components[1]) if len(components) > 1 else []
    same_family = bool(dicom_family) and (family <= dicom_family or dicom_family <= family)
    return same_family and bool(dicom_given) and given[0] == dicom_given[0]


def _tokens(text: str) -> list[str]:
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).upper()
    return re.findall(r"[A-Z0-9]+", plain.replace("'", ""))


def _identifier(value: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", value.upper())


def patient_key(identifier: str) -> str:
    """A medical record number as compared: letters and digits only, upper case."""
    return _identifier(identifier)
