"""The identity check: lenient about spelling conventions, strict about different people."""

from datetime import date

import pytest

from services.records.identity import CasePatient, DicomPatient, compare_identity, names_match

AMELIA = CasePatient("Amelia", "Quintero Fake", date(2016, 4, 9), mrn="MRN-77-1234")


@pytest.mark.parametrize(
    "person_name",
    [
        "Quintero Fake^Amelia",
        "QUINTERO FAKE^AMELIA",
        "Quintero^Amelia",  # one of two surnames
        "Quintero-Fake^Amelia^Rosa",  # hyphen, middle name
        "Quintéro Fake^Amélia",  # accents
        "QUINTERO FAKE^AMELIA^^^=クインテロ^アメリア",  # ideographic group ignored
        "QUINTERO FAKE AMELIA",  # no component separator
    ],
)
def test_names_that_name_the_child_match(person_name: str) -> None:
    assert names_match(AMELIA.given_name, AMELIA.family_name, person_name)


@pytest.mark.parametrize(
    "person_name",
    ["Smith^Amelia", "Quintero Fake^Sofia", "Quintero Fake", "^Amelia", "Amelia^Quintero Fake"],
)
def test_names_of_someone_else_do_not_match(person_name: str) -> None:
    assert not names_match(AMELIA.given_name, AMELIA.family_name, person_name)


def test_a_matching_instance_has_no_findings() -> None:
    dicom = DicomPatient("QUINTERO FAKE^AMELIA", "20160409", "MRN771234")
    result = compare_identity(AMELIA, dicom)
    assert result.checked == ("PatientName", "PatientBirthDate", "PatientID")
    assert result.mismatched == ()


def test_findings_name_the_attributes_never_the_values() -> None:
    dicom = DicomPatient("DOE^JANE", "20150101", "OTHER-ID")
    result = compare_identity(AMELIA, dicom)
    assert result.mismatched == ("PatientName", "PatientBirthDate", "PatientID")
    assert not any("DOE" in f or "2015" in f for f in result.mismatched)


def test_the_mrn_may_be_among_the_other_patient_ids() -> None:
    dicom = DicomPatient("QUINTERO FAKE^AMELIA", "20160409", "LOCAL-9", ("mrn 77 1234",))
    assert compare_identity(AMELIA, dicom).mismatched == ()


def test_empty_attributes_and_a_missing_mrn_are_not_checked() -> None:
    assert compare_identity(AMELIA, DicomPatient()).checked == ()
    no_mrn = CasePatient("Amelia", "Quintero Fake", date(2016, 4, 9))
    result = compare_identity(no_mrn, DicomPatient("", "", "ANY-ID"))
    assert result.checked == ()
