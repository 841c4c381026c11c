"""Service levels: at-risk and overdue are announced once each; the report stops the clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.assignment.scanner import scan_once
from shared.contracts import ReportIssued
from shared.envelope import make_event
from tests.integration.assignment.conftest import StartAssignment, records_ready
from tests.support import eventually, sample_event

pytestmark = pytest.mark.real
SHA = "0" * 64


def report_issued(case_id: str) -> ReportIssued:
    stored = {"bucket": "reports", "key": f"{case_id}/v1", "sha256": SHA, "size_bytes": 10}
    return ReportIssued.model_validate(
        {
            "case_id": case_id,
            "report_id": f"{case_id}-report",
            "version": 1,
            "concordance": "confirmed",
            "treatment_change": "none",
            "language": "es",
            "html": {**stored, "content_type": "text/html"},
            "pdf": {**stored, "content_type": "application/pdf"},
            "recipients": ["guardian", "referring-physician"],
            "issued_at": datetime.now(UTC),
        }
    )


async def test_late_cases_are_announced_at_risk_and_overdue_exactly_once(
    start_assignment: StartAssignment,
) -> None:
    async with start_assignment() as svc:
        # Records were ready three weeks ago, so both points have passed for this urgent case.
        long_ago = datetime.now(UTC) - timedelta(days=21)
        late = sample_event("case-late", urgency="urgent")
        await svc.publish(late, records_ready("case-late", time=long_ago))
        await eventually(lambda: ("service-level-overdue", "ana") in svc.log.changes("case-late"))
        case = (await svc.client.get("/cases/case-late", headers=svc.staff)).json()
        assert case["service_level"]["state"] == "overdue"
        store = svc.service.context.store
        counts = await store.service_level_counts(datetime.now(UTC))
        assert counts == {"at-risk": 0, "overdue": 1}  # what the scan exports as gauges

        report = make_event(report_issued("case-late"), source="/tests", subject="case-late")
        await svc.publish(report)
        await eventually(lambda: svc.applied("case-late", report.id))
        stopped = (await svc.client.get("/cases/case-late", headers=svc.staff)).json()
        assert stopped["stage"] == "reported"
        assert stopped["service_level"]["state"] == "stopped"
        assert await store.service_level_counts(datetime.now(UTC)) == {"at-risk": 0, "overdue": 0}

        # However often the scan runs now, it finds nothing left to announce.
        assert await scan_once(svc.service.context) == 0
        assert svc.log.changes("case-late") == [
            ("offered", "ana"),
            ("service-level-at-risk", "ana"),
            ("service-level-overdue", "ana"),
        ]
