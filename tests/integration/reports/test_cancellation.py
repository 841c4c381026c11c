"""A case cancelled or withdrawn after assignment (issue 14), against the real servers: the
report takes no more writing, signing is refused, and no `report.issued` goes out."""

from __future__ import annotations

import pytest

from shared.contracts import CaseUpdated
from shared.contracts.common import Actor
from shared.envelope import CloudEvent
from tests.integration.reports.conftest import Running, event
from tests.support import eventually
from tests.topic_reading import events_on

pytestmark = pytest.mark.real

REFUSAL = "the case was cancelled or withdrawn; the report can no longer be changed"


def withdrawn(case_id: str, change: str = "cancelled", status: str = "cancelled") -> CloudEvent:
    update = {
        "case_id": case_id,
        "change": change,
        "status": status,
        "specialty": "neuro-oncology",
        "actor": Actor(subject=f"guardian-of-{case_id}", role="guardian"),
        "reason": "withdrawn by the family",
    }
    return event(CaseUpdated.model_validate(update))


async def cancelled(reports: Running, case_id: str) -> bool:
    return (await reports.record(case_id)).cancelled


async def test_a_withdrawn_case_cannot_be_signed_and_issues_nothing(reports: Running) -> None:
    await reports.open_case("case-w1")
    written = await reports.write_all("case-w1")
    assert written.status_code == 200, written.text

    await reports.publish(withdrawn("case-w1", "put-on-hold", "on-hold"))  # not a cancellation
    await eventually(lambda: reports.consumed("case.updated"))
    assert not await cancelled(reports, "case-w1")

    cancel = withdrawn("case-w1")
    await reports.publish(cancel)
    await eventually(lambda: cancelled(reports, "case-w1"))
    before = await reports.store.documents.load("case-w1")
    await reports.publish(cancel)  # redelivered
    await eventually(lambda: reports.consumed("case.updated"))
    assert (await reports.store.documents.load("case-w1")).version == before.version

    ana = reports.auth("ana")
    signed = await reports.client.post(
        "/cases/case-w1/report/sign", json={"revision": written.json()["revision"]}, headers=ana
    )
    assert signed.status_code == 409, signed.text
    assert signed.json()["error"]["code"] == "case_cancelled"
    assert signed.json()["error"]["message"] == REFUSAL
    saved = await reports.client.patch(
        "/cases/case-w1/report/draft",
        json={"summary": "one more line"},
        headers={**ana, "If-Match": f'"{written.json()["revision"]}"'},
    )
    assert saved.status_code == 409 and saved.json()["error"]["code"] == "case_cancelled"

    # The lead still reads the draft and sees why it stopped, here and in the listing.
    draft = await reports.client.get("/cases/case-w1/report/draft", headers=ana)
    assert draft.status_code == 200
    assert draft.json()["cancelled"] is True and draft.json()["status"] == "draft"
    listing = await reports.client.get("/reports", headers=ana)
    (line,) = [r for r in listing.json() if r["case_id"] == "case-w1"]
    assert line["cancelled"] is True and line["cancelled_at"] is not None

    assert await events_on(reports.stack, "report.issued", "case-w1") == []
    record = await reports.record("case-w1")
    assert record.versions == [] and record.cancelled_by_role == "guardian"


async def test_a_cancellation_before_the_case_arrives_still_holds(reports: Running) -> None:
    await reports.publish(withdrawn("case-w2"))
    await eventually(lambda: reports.consumed("case.updated"))
    await reports.open_case("case-w2")
    assert await cancelled(reports, "case-w2")
    written = await reports.write_all("case-w2")
    assert written.status_code == 409 and written.json()["error"]["code"] == "case_cancelled"
