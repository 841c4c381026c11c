"""The checklist rule tables are consistent, and say what the issue asks for."""

from typing import get_args

import pytest

from services.records import rules
from shared.contracts.common import Specialty


def test_every_specialty_has_a_rule_set_of_known_items() -> None:
    assert set(rules.REQUIRED_BY_SPECIALTY) == set(get_args(Specialty))
    for specialty, items in rules.REQUIRED_BY_SPECIALTY.items():
        assert items, specialty
        assert set(items) <= set(rules.ITEMS), specialty
    assert set(rules.FROM_SUBMISSION) <= set(rules.ITEMS)
    assert set(rules.ITEM_OF_MODALITY.values()) <= set(rules.ITEMS)


@pytest.mark.parametrize("specialty", get_args(Specialty))
def test_every_case_needs_the_family_questions(specialty: Specialty) -> None:
    assert rules.required_items(specialty)[0] == "family-questions"


def test_neuro_oncology_needs_mri_pathology_treatment_and_medications() -> None:
    assert rules.required_items("neuro-oncology") == [
        "family-questions",
        "mri-imaging",
        "pathology-report",
        "treatment-records",
        "current-medications",
    ]


def test_the_source_list_of_records_is_covered() -> None:
    wanted = {
        "mri-imaging", "ct-imaging", "xray-imaging", "lab-results", "pathology-report",
        "genetic-test-results", "treatment-records", "operative-reports", "biopsy-slides",
        "discharge-summaries", "current-medications", "past-medications",
    }  # fmt: skip
    assert wanted <= set(rules.ITEMS)
    assert {rules.ITEMS[i].accepts for i in ("mri-imaging", "ct-imaging")} == {"dicom"}
    assert rules.ITEMS["pathology-report"].accepts == "document"


def test_imaging_is_classified_by_modality() -> None:
    assert rules.item_of_modality("MR") == "mri-imaging"
    assert rules.item_of_modality("ct") == "ct-imaging"
    assert rules.item_of_modality("DX") == "xray-imaging"
    assert rules.item_of_modality("US") == "other-imaging"
