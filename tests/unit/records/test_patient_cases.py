"""Which open case an instance's patient names, for a hospital's system (STOW-RS and C-STORE)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from services.records.domain import CaseRecord, DomainError
from services.records.identity import DicomPatient, patient_key
from services.records.patient_cases import CaseNotIdentified, PatientCase, open_case_of_patient
from shared.auth import Principal
from tests.support import sample_case


class FakeCaseIndex:
    """The two reads the lookup makes, over cases held in memory."""

    def __init__(self, *cases: CaseRecord) -> None:
        self.cases = {c.case_id: c for c in cases}

    async def open_cases_of_patient(self, organization_id: str, keys: Sequence[str]) -> list[str]:
        return [
            c.case_id
            for c in self.cases.values()
            if c.organization_id == organization_id
            and c.patient is not None
            and c.patient.mrn is not None
            and patient_key(c.patient.mrn) in keys
            and c.accepts_uploads
        ][:2]

    async def load(self, case_id: str, *, recent: bool = False) -> CaseRecord | None:
        return self.cases.get(case_id)


def case(case_id: str, organization: str = "org-1", **changes: object) -> CaseRecord:
    record = CaseRecord(case_id)
    record.submit(sample_case(case_id, organization_id=organization, **changes))
    return record


def hospital(organization: str = "org-1") -> Principal:
    return Principal(
        subject="VALLEYPACS", role="hospital-system", organization=organization, token_id="t"
    )


async def test_the_patient_id_names_the_open_case_of_the_organization() -> None:
    index = FakeCaseIndex(case("case-1"), case("case-2", organization="org-2"))
    found = await open_case_of_patient(index, hospital(), DicomPatient(patient_id="mrn 77 1234"))
    assert found == PatientCase("case-1", patient_key("MRN-77-1234"))


async def test_other_patient_ids_name_it_too() -> None:
    index = FakeCaseIndex(case("case-1"))
    patient = DicomPatient(patient_id="LOCAL-9", other_ids=("MRN771234",))
    assert (await open_case_of_patient(index, hospital(), patient)).case_id == "case-1"


@pytest.mark.parametrize(
    ("cases", "organization"),
    [
        ((), "org-1"),  # no case at all
        (("org-2",), "org-1"),  # another organization's child
        (("org-1", "org-1"), "org-1"),  # two open cases: which one is not guessed
    ],
)
async def test_no_single_open_case_is_not_identified(
    cases: tuple[str, ...], organization: str
) -> None:
    index = FakeCaseIndex(*(case(f"case-{n}", org) for n, org in enumerate(cases)))
    with pytest.raises(CaseNotIdentified) as refused:
        await open_case_of_patient(
            index, hospital(organization), DicomPatient("X", "", "MRN771234")
        )
    assert "771234" not in str(refused.value)


async def test_an_instance_without_a_patient_id_names_no_case() -> None:
    index = FakeCaseIndex(case("case-1"))
    with pytest.raises(CaseNotIdentified):
        await open_case_of_patient(index, hospital(), DicomPatient())


async def test_a_caller_that_is_no_hospital_system_is_refused() -> None:
    staff = Principal(subject="s", role="intake-staff", token_id="t")
    with pytest.raises((CaseNotIdentified, DomainError)):
        await open_case_of_patient(FakeCaseIndex(case("case-1")), staff, DicomPatient("", "", "x"))
