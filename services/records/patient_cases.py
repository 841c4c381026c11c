"""Which case a hospital's system means when it names only the patient (STOW-RS without a case,
C-STORE): the open case of its organization whose MRN an instance's PatientID or
OtherPatientIDs give, compared as letters and digits (identity.patient_key)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from services.records import access
from services.records.domain import CaseRecord
from services.records.identity import DicomPatient, patient_key
from shared.auth import Principal


class CaseIndex(Protocol):
    """The reads the lookup makes (RecordsStore in the service)."""

    async def open_cases_of_patient(
        self, organization_id: str, keys: Sequence[str]
    ) -> list[str]: ...
    async def load(self, case_id: str, *, recent: bool = False) -> CaseRecord | None: ...


class CaseNotIdentified(Exception):
    """No single open case of the caller's organization; the message names no value."""


@dataclass(frozen=True)
class PatientCase:
    case_id: str
    # The case's MRN as patient_key gives it: every instance stored this way must name it.
    patient: str


async def open_case_of_patient(
    cases: CaseIndex, principal: Principal, patient: DicomPatient
) -> PatientCase:
    """The open case of the caller's organization for this patient; raises CaseNotIdentified,
    or DomainError when the case found is closed (cancelled since it was indexed)."""
    if principal.role != "hospital-system" or not principal.organization:
        raise CaseNotIdentified("only a hospital's system is matched to a case by patient")
    keys = {patient_key(i) for i in (patient.patient_id, *patient.other_ids)} - {""}
    found = await cases.open_cases_of_patient(principal.organization, sorted(keys))
    if len(found) != 1:
        raise CaseNotIdentified("the PatientID names no single open case of your organization")
    # The version this process last saw will do: storing checks the case again as it writes.
    latest = await cases.load(found[0], recent=True)
    case = access.check_case(principal, "stow", latest, found[0])
    case.ensure_open()
    mrn = case.patient.mrn if case.patient else None
    if not mrn:  # the case's MRN was removed since the index was written
        raise CaseNotIdentified("the case has no MRN to match the instances with")
    return PatientCase(case.case_id, patient_key(mrn))
