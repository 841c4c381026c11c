"""A CaseRecord as a MongoDB document and back (dates as ISO strings; UIDs never as keys,
because the dots in them would read as paths).

Two derived top-level lists, `expert_ids` and `study_uids`, and `patient_key` (the MRN as
identity.patient_key normalizes it, for STOW-RS naming its case by PatientID) exist only so
that lookups can filter on an index: the store only uses an index for equality on a top-level
field, never on a path into `experts`, `studies` or `patient`. They are rewritten with every
change and never read back."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Any

from services.records.domain import (
    CaseRecord,
    DeidentifiedCopy,
    DocumentEntry,
    RecordsRequestEntry,
    Waiver,
)
from services.records.identity import CasePatient, patient_key
from services.records.imaging import SeriesSummary, StudySummary
from shared.mongo import Document


def case_to_document(case: CaseRecord) -> Document:
    """Every field of the case except its id and version, which the store manages."""
    patient = None
    if case.patient is not None:
        patient = {**asdict(case.patient), "date_of_birth": case.patient.date_of_birth.isoformat()}
    return {
        "specialty": case.specialty,
        "status": case.status,
        "triaged": case.triaged,
        "patient": patient,
        "organization_id": case.organization_id,
        "guardian_language": case.guardian_language,
        "documents": [asdict(d) for d in case.documents],
        "studies": [_study_to_document(s) for s in case.studies.values()],
        "waivers": [asdict(w) for w in case.waivers.values()],
        "deidentified": [_copy_to_document(c) for c in case.deidentified],
        "requests": [asdict(r) for r in case.requests],
        "uploads": case.uploads,
        "uid_salt": case.uid_salt,
        # A list, not a map: expert ids are not field names (they may hold dots).
        "experts": [{"expert_id": e, "standing": s} for e, s in sorted(case.experts.items())],
        "ready_at": case.ready_at,
        "expert_ids": sorted(case.experts),
        "study_uids": [*case.studies, *(c.study_instance_uid for c in case.deidentified)],
        "patient_key": patient_key(case.patient.mrn) if case.patient and case.patient.mrn else None,
    }


def case_from_document(doc: Document) -> CaseRecord:
    patient = doc.get("patient")
    return CaseRecord(
        case_id=doc["case_id"],
        specialty=doc["specialty"],
        status=doc["status"],
        triaged=doc.get("triaged", False),
        patient=None
        if patient is None
        else CasePatient(
            **{**patient, "date_of_birth": date.fromisoformat(patient["date_of_birth"])}
        ),
        organization_id=doc.get("organization_id"),
        guardian_language=doc.get("guardian_language", "en"),
        documents=[DocumentEntry(**d) for d in doc.get("documents", [])],
        studies={s["study_instance_uid"]: _study_from_document(s) for s in doc.get("studies", [])},
        waivers={w["item"]: Waiver(**w) for w in doc.get("waivers", [])},
        deidentified=[_copy_from_document(c) for c in doc.get("deidentified", [])],
        # Cases written before requests were kept have no such field.
        requests=[RecordsRequestEntry(**r) for r in doc.get("requests", [])],
        uploads=doc.get("uploads", []),
        uid_salt=doc.get("uid_salt", ""),
        experts={e["expert_id"]: e["standing"] for e in doc.get("experts", [])},
        ready_at=doc.get("ready_at"),
        revision=doc["version"],
    )


def _study_to_document(study: StudySummary) -> dict[str, Any]:
    return {
        "study_instance_uid": study.study_instance_uid,
        "study_date": study.study_date.isoformat() if study.study_date else None,
        "description": study.description,
        "series": [asdict(s) for s in study.series.values()],
        "identity_checked": sorted(study.identity_checked),
        "identity_mismatched": sorted(study.identity_mismatched),
        "patient_name": study.patient_name,
        "patient_id": study.patient_id,
    }


def _study_from_document(doc: Document) -> StudySummary:
    return StudySummary(
        study_instance_uid=doc["study_instance_uid"],
        study_date=date.fromisoformat(doc["study_date"]) if doc.get("study_date") else None,
        description=doc.get("description", ""),
        series={s["series_instance_uid"]: SeriesSummary(**s) for s in doc.get("series", [])},
        identity_checked=set(doc.get("identity_checked", [])),
        identity_mismatched=set(doc.get("identity_mismatched", [])),
        # Studies stored before QIDO named the patient have neither.
        patient_name=doc.get("patient_name", ""),
        patient_id=doc.get("patient_id", ""),
    )


def _copy_to_document(copy: DeidentifiedCopy) -> dict[str, Any]:
    return {
        **asdict(copy),
        "modalities": list(copy.modalities),
        "study_date": copy.study_date.isoformat() if copy.study_date else None,
        "warnings": list(copy.warnings),
    }


def _copy_from_document(doc: Document) -> DeidentifiedCopy:
    return DeidentifiedCopy(
        **{
            **doc,
            "modalities": tuple(doc["modalities"]),
            "study_date": date.fromisoformat(doc["study_date"]) if doc["study_date"] else None,
            "warnings": tuple(doc["warnings"]),
        }
    )
