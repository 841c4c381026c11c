"""The records checklist as data: what can be uploaded, and what each specialty requires.

Clinical leads change these tables, not code; `tests/unit/records/test_rules.py` checks they are
consistent (every required item exists, every specialty has a rule set).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shared.contracts.common import Specialty

Accepts = Literal["document", "dicom", "document-or-dicom"]


@dataclass(frozen=True)
class ChecklistItem:
    label: str
    accepts: Accepts


ITEMS: dict[str, ChecklistItem] = {
    "family-questions": ChecklistItem("The family's questions", "document"),
    "mri-imaging": ChecklistItem("MRI imaging", "dicom"),
    "ct-imaging": ChecklistItem("CT imaging", "dicom"),
    "xray-imaging": ChecklistItem("X-ray imaging", "dicom"),
    "other-imaging": ChecklistItem("Other imaging (ultrasound, PET, nuclear medicine)", "dicom"),
    "lab-results": ChecklistItem("Laboratory results", "document"),
    "pathology-report": ChecklistItem("Pathology report", "document"),
    "genetic-test-results": ChecklistItem("Genetic test results", "document"),
    "treatment-records": ChecklistItem("Treatment records", "document"),
    "operative-reports": ChecklistItem("Operative reports", "document"),
    "biopsy-slides": ChecklistItem("Bone-marrow or biopsy slides", "document-or-dicom"),
    "discharge-summaries": ChecklistItem("Discharge summaries", "document"),
    "current-medications": ChecklistItem("Current medications", "document"),
    "past-medications": ChecklistItem("Past medications", "document"),
    "other-records": ChecklistItem("Other records", "document"),
}

# Present from the moment the case is submitted (the questions are part of the request form).
FROM_SUBMISSION: tuple[str, ...] = ("family-questions",)

REQUIRED_FOR_EVERY_CASE: tuple[str, ...] = ("family-questions",)

REQUIRED_BY_SPECIALTY: dict[Specialty, tuple[str, ...]] = {
    "neuro-oncology": (
        "mri-imaging",
        "pathology-report",
        "treatment-records",
        "current-medications",
    ),
    "neurosurgery": (
        "mri-imaging",
        "operative-reports",
        "discharge-summaries",
        "current-medications",
    ),
    "oncology": (
        "ct-imaging",
        "pathology-report",
        "lab-results",
        "treatment-records",
        "current-medications",
    ),
    "hematology": (
        "lab-results",
        "biopsy-slides",
        "pathology-report",
        "treatment-records",
        "current-medications",
    ),
    "cardiology": (
        "discharge-summaries",
        "operative-reports",
        "lab-results",
        "current-medications",
    ),
    "genetics": (
        "genetic-test-results",
        "lab-results",
        "discharge-summaries",
        "current-medications",
    ),
    # Intake triages these later; a `case.updated` with a specialty replaces the rule set.
    "not-sure": ("discharge-summaries", "current-medications"),
}

# Imaging is classified by what the DICOM headers say, not by the uploader's choice, so a
# study pushed by a PACS (which names no checklist item) counts too.
ITEM_OF_MODALITY: dict[str, str] = {
    "MR": "mri-imaging",
    "CT": "ct-imaging",
    "CR": "xray-imaging",
    "DX": "xray-imaging",
    "RG": "xray-imaging",
    "MG": "xray-imaging",
    "SM": "biopsy-slides",
}
FALLBACK_IMAGING_ITEM = "other-imaging"


def required_items(specialty: Specialty) -> list[str]:
    """Every item a case of this specialty needs, in checklist order."""
    wanted = set(REQUIRED_FOR_EVERY_CASE) | set(REQUIRED_BY_SPECIALTY[specialty])
    return [name for name in ITEMS if name in wanted]


def item_of_modality(modality: str) -> str:
    return ITEM_OF_MODALITY.get(modality.upper(), FALLBACK_IMAGING_ITEM)
