"""Realistic events of one case's walk through the platform, as the other services publish them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.contracts import (
    AssignmentUpdated,
    CaseUpdated,
    ExpertAssigned,
    RecordsReady,
    RecordsRequested,
    RecordsUpdated,
    ReportIssued,
)
from shared.contracts.common import Actor
from shared.contracts.expert_assigned import ExpertRef
from shared.contracts.records_ready import Completeness, IdentityCheck
from shared.contracts.report_issued import StoredObject
from shared.envelope import CloudEvent, Payload, make_event
from tests.support import sample_event

STAFF = Actor(subject="staff-1", role="intake-staff")
SHA = "0" * 64


def _event(payload: Payload, case_id: str, source: str, **event: Any) -> CloudEvent:
    return make_event(payload, source=f"/tests/{source}", subject=case_id, **event)


def submitted(case_id: str, **changes: Any) -> CloudEvent:
    """The sample case, sent by the Valley Pediatrics hospital system."""
    return sample_event(case_id, **{"organization_id": "org-valley", **changes})


def submitted_by(
    case_id: str,
    *,
    given: str,
    family: str,
    born: date,
    specialty: str = "neuro-oncology",
    urgency: str = "routine",
    language: str = "en",
    email: str | None = None,
    organization_id: str | None = "org-valley",
) -> CloudEvent:
    base = sample_event(case_id)
    patient = {**base.data["patient"], "given_name": given, "family_name": family}
    patient["date_of_birth"] = born.isoformat()
    guardian = {**base.data["guardian"], "preferred_language": language}
    if email:
        guardian["email"] = email
    return sample_event(
        case_id,
        patient=patient,
        guardian=guardian,
        specialty=specialty,
        urgency=urgency,
        organization_id=organization_id,
    )


def records_updated(case_id: str, missing: int = 1) -> CloudEvent:
    required = ["pathology-report", "mri-imaging", "discharge-summary"]
    payload = RecordsUpdated(
        case_id=case_id,
        required=required,
        present=required[missing:],
        missing=required[:missing],
        document_count=3 - missing,
        study_count=0,
        identity_check="match",
    )
    return _event(payload, case_id, "records")


def records_requested(case_id: str) -> CloudEvent:
    payload = RecordsRequested(
        case_id=case_id,
        items=["mri-imaging", "pathology-report"],
        message="Please send the MRI of 2026-10-02 and the pathology slides report.",
        requested_by=STAFF,
    )
    return _event(payload, case_id, "records")


def records_ready(case_id: str) -> CloudEvent:
    payload = RecordsReady(
        case_id=case_id,
        documents=[],
        studies=[],
        completeness=Completeness(required=["pathology-report"], present=["pathology-report"]),
        identity_check=IdentityCheck(status="match"),
    )
    return _event(payload, case_id, "records")


def expert(expert_id: str = "ana") -> ExpertRef:
    names = {"ana": "Dr. Ana Ruiz", "ben": "Dr. Ben Okafor", "cruz": "Dr. Cruz Lima"}
    return ExpertRef(
        expert_id=expert_id,
        display_name=names.get(expert_id, expert_id),
        specialty="neuro-oncology",
    )


def offered(case_id: str, expert_id: str = "ana") -> CloudEvent:
    now = datetime.now(UTC)
    payload = AssignmentUpdated(
        case_id=case_id,
        assignment_id=f"asg-{case_id}",
        change="offered",
        expert=expert(expert_id),
        reasons=["subspecialty match"],
        offer_expires_at=now + timedelta(hours=24),
        due_at=now + timedelta(days=9),
    )
    return _event(payload, case_id, "assignment")


def service_level(case_id: str, change: str, expert_id: str = "ana") -> CloudEvent:
    payload = AssignmentUpdated.model_validate(
        {
            "case_id": case_id,
            "assignment_id": f"asg-{case_id}",
            "change": change,
            "expert": expert(expert_id),
            "due_at": datetime.now(UTC) + timedelta(days=1),
        }
    )
    return _event(payload, case_id, "assignment")


def assigned(case_id: str, expert_id: str = "ana", urgency: str = "routine") -> CloudEvent:
    now = datetime.now(UTC)
    payload = ExpertAssigned.model_validate(
        {
            "case_id": case_id,
            "assignment_id": f"asg-{case_id}",
            "lead": expert(expert_id),
            "urgency": urgency,
            "assigned_at": now,
            "due_at": now + timedelta(days=9),
        }
    )
    return _event(payload, case_id, "assignment")


def issued(case_id: str, version: int = 1, amends: int | None = None) -> CloudEvent:
    def stored(kind: str) -> StoredObject:
        return StoredObject(
            bucket="reports",
            key=f"{case_id}/v{version}.{kind}",
            sha256=SHA,
            size_bytes=1000,
            content_type="application/pdf" if kind == "pdf" else "text/html",
        )

    payload = ReportIssued(
        case_id=case_id,
        report_id=f"rep-{case_id}",
        version=version,
        amends_version=amends,
        concordance="refined",
        treatment_change="modified",
        language="es",
        html=stored("html"),
        pdf=stored("pdf"),
        recipients=["guardian", "referring-physician"],
        issued_at=datetime.now(UTC),
    )
    return _event(payload, case_id, "reports")


def cancelled(case_id: str) -> CloudEvent:
    payload = CaseUpdated(
        case_id=case_id,
        change="cancelled",
        status="cancelled",
        specialty="neuro-oncology",
        actor=STAFF,
        reason="family withdrew",
    )
    return _event(payload, case_id, "intake")
