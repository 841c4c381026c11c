"""The family's status page follows the events of the other services: records arriving, the
records complete, an expert assigned, the report issued; a redelivered event changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.contracts import ExpertAssigned, RecordsReady, RecordsUpdated, ReportIssued
from shared.contracts.expert_assigned import ExpertRef
from shared.contracts.records_ready import Completeness, IdentityCheck
from shared.contracts.report_issued import StoredObject
from shared.envelope import CloudEvent, Payload, make_event
from tests.integration.intake.conftest import IntakeHarness
from tests.support import eventually
from tests.unit.intake.samples import form

pytestmark = pytest.mark.real

REQUIRED = ["mri-imaging", "pathology-report", "family-questions"]


def event(payload: Payload, case_id: str, minutes: int) -> CloudEvent:
    at = datetime.now(UTC) + timedelta(minutes=minutes)
    return make_event(payload, source="/tests", subject=case_id, time=at)


def records_updated(case_id: str, present: list[str]) -> RecordsUpdated:
    return RecordsUpdated(
        case_id=case_id,
        required=REQUIRED,
        present=present,
        missing=[item for item in REQUIRED if item not in present],
        document_count=len(present),
        study_count=0,
        identity_check="not-checked",
    )


def report(case_id: str) -> ReportIssued:
    stored = StoredObject(
        bucket="reports", key="r/1", sha256="0" * 64, size_bytes=1, content_type="text/html"
    )
    return ReportIssued(
        case_id=case_id,
        report_id="rep-1",
        version=1,
        concordance="refined",
        treatment_change="modified",
        language="es",
        html=stored,
        pdf=stored,
        recipients=["guardian", "referring-physician"],
        issued_at=datetime.now(UTC),
    )


async def test_the_status_page_follows_the_case(intake: IntakeHarness) -> None:
    accepted = await intake.submit(form())
    case_id = accepted["case_id"]
    link = {"Authorization": f"Bearer {accepted['link']['token']}"}

    async def status(stage: str) -> dict[str, Any] | None:
        answer = await intake.client.get(f"/cases/{case_id}/status", headers=link)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body if body["stage"] == stage else None

    assert await status("submitted")
    updated = event(records_updated(case_id, ["family-questions"]), case_id, 1)
    await intake.publisher.publish([updated, updated])  # a redelivery changes nothing
    page = await eventually(lambda: status("gathering-records"))
    assert page["missing"] == ["mri-imaging", "pathology-report"]
    assert page["present"] == ["family-questions"]

    ready = RecordsReady(
        case_id=case_id,
        documents=[],
        studies=[],
        completeness=Completeness(required=REQUIRED, present=REQUIRED),
        identity_check=IdentityCheck(status="match"),
    )
    await intake.publisher.publish([event(ready, case_id, 2)])
    page = await eventually(lambda: status("records-complete"))
    assert page["missing"] == []

    expert = ExpertRef(expert_id="ana", display_name="Dr. Ana", specialty="neuro-oncology")
    assigned = ExpertAssigned(
        case_id=case_id,
        assignment_id="a-1",
        lead=expert,
        urgency="routine",
        assigned_at=datetime.now(UTC),
        due_at=datetime.now(UTC) + timedelta(days=7),
    )
    # Arriving out of order (the report before the assignment) still gives the furthest stage.
    await intake.publisher.publish([event(report(case_id), case_id, 4)])
    await intake.publisher.publish([event(assigned, case_id, 3)])
    page = await eventually(lambda: status("report-issued"))
    assert page["report_version"] == 1
    await eventually(lambda: _all_reached(intake, case_id, link))


async def _all_reached(intake: IntakeHarness, case_id: str, link: dict[str, str]) -> bool:
    answer = await intake.client.get(f"/cases/{case_id}/status", headers=link)
    return all(s["reached_at"] for s in answer.json()["stages"])
