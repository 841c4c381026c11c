"""From case.submitted to records.ready on the real servers: the checklist opens, uploads and
waivers move it, and records.ready is published once, through the outbox."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import pytest

from services.records.handlers import SERVICE
from shared.auth import Role
from shared.contracts import CaseUpdated, RecordsReady, RecordsUpdated
from shared.contracts.case_updated import CaseStatus
from shared.contracts.common import Actor
from shared.envelope import make_event
from tests.integration.records.conftest import RecordsHarness, object_keys
from tests.integration.records.samples import build_study, stow_body, zip_of
from tests.support import eventually, sample_pdf
from tests.topic_reading import consumed_everything, events_on

pytestmark = pytest.mark.real
Change = Literal["triaged", "note-added", "put-on-hold", "resumed", "cancelled"]


async def test_case_submitted_opens_the_checklist_and_a_redelivery_changes_nothing(
    records: RecordsHarness,
) -> None:
    event = await records.submit("case-open")
    checklist = await records.checklist("case-open")
    assert checklist["required"] == [
        "family-questions", "mri-imaging", "pathology-report", "treatment-records",
        "current-medications",
    ]  # fmt: skip
    assert checklist["present"] == ["family-questions"]
    assert checklist["identity_check"] == {"status": "not-checked", "findings": []}
    cases = records.service.ports.store.cases
    # The outbox empties when the relay publishes; everything else must stay as it was.
    before = await cases.find_one({"_id": "case-open"}, {"outbox": 0})

    await records.publisher.publish([event])  # the same event, delivered again
    group = records.stack.topic(SERVICE)
    await eventually(lambda: consumed_everything(records.stack, group, "case.submitted"))

    after = await cases.find_one({"_id": "case-open"}, {"outbox": 0})
    assert after == before
    assert after is not None and after["applied"][SERVICE][0] == event.id
    assert event.id not in after["applied"][SERVICE][1:]
    updates = await eventually(lambda: events_on(records.stack, "records.updated", "case-open"))
    assert len(updates) == 1


async def test_the_flow_to_records_ready_is_seen_on_the_topic_exactly_once(
    records: RecordsHarness,
) -> None:
    await records.submit("case-flow")
    study = build_study()
    cd = await records.upload("case-flow", "mri-imaging", zip_of(study, dicomdir=True))
    assert cd.status_code == 201, cd.text
    pdf = await records.upload("case-flow", "pathology-report", sample_pdf("pathology"))
    text = await records.upload("case-flow", "treatment-records", b"Cycle 1: vincristine\n")
    assert (pdf.status_code, text.status_code) == (201, 201)
    assert not await events_on(records.stack, "records.ready", "case-flow")

    waived = await records.client.post(
        "/cases/case-flow/checklist/current-medications/waive",
        json={"reason": "family will bring the list to the call"},
        headers=records.auth("intake-staff"),
    )
    assert waived.status_code == 200, waived.text
    assert waived.json()["missing"] == []
    assert waived.json()["records_ready"] is True

    (ready_event,) = await eventually(
        lambda: events_on(records.stack, "records.ready", "case-flow")
    )
    ready = RecordsReady.model_validate(ready_event.data)
    assert {d.kind for d in ready.documents} == {"pathology-report", "treatment-records"}
    assert [(s.study_instance_uid, s.series_count, s.instance_count) for s in ready.studies] == [
        (study[0].study, 2, 5)
    ]
    assert ready.completeness.waived[0].item == "current-medications"
    assert ready.identity_check.status == "match"

    later = await records.upload("case-flow", "lab-results", sample_pdf("labs"))
    assert later.status_code == 201
    # The late document shows in a further records.updated; records.ready is not sent again.
    await eventually(lambda: _an_update_counting(records, "case-flow", documents=3))
    assert len(await events_on(records.stack, "records.ready", "case-flow")) == 1


async def _an_update_counting(records: RecordsHarness, case_id: str, documents: int) -> bool:
    updates = await events_on(records.stack, "records.updated", case_id)
    return any(RecordsUpdated.model_validate(u.data).document_count == documents for u in updates)


async def test_a_cancelled_case_refuses_uploads_and_on_hold_does_not(
    records: RecordsHarness,
) -> None:
    await records.submit("case-stop")

    async def intake_sets(status: CaseStatus, change: Change) -> None:
        update = CaseUpdated(
            case_id="case-stop",
            change=change,
            status=status,
            specialty="neuro-oncology",
            actor=Actor(subject="staff-9", role="intake-staff"),
        )
        await records.publisher.publish([make_event(update, source="/tests", subject="case-stop")])
        await eventually(lambda: _status_is(records, "case-stop", status))

    await intake_sets("on-hold", "put-on-hold")
    assert (await records.upload("case-stop", "lab-results", sample_pdf("a"))).status_code == 201

    await intake_sets("cancelled", "cancelled")
    refused = await records.upload("case-stop", "lab-results", sample_pdf("b"))
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "case_closed"
    body, content_type = stow_body([build_study((("CT_small.dcm", 1),))[0].data])
    stow = await records.client.post(
        "/dicomweb/studies?case_id=case-stop",
        content=body,
        headers={**records.auth(), "Content-Type": content_type},
    )
    assert (stow.status_code, stow.json()["error"]["code"]) == (409, "case_closed")


async def _status_is(records: RecordsHarness, case_id: str, status: str) -> bool:
    return (await records.checklist(case_id))["status"] == status


async def test_triage_to_another_specialty_changes_the_required_items(
    records: RecordsHarness,
) -> None:
    await records.submit("case-triage", specialty="not-sure")
    update = CaseUpdated(
        case_id="case-triage",
        change="triaged",
        status="open",
        specialty="hematology",
        actor=Actor(subject="staff-9", role="intake-staff"),
    )
    await records.publisher.publish([make_event(update, source="/tests", subject="case-triage")])
    checklist = await eventually(lambda: _required_has(records, "case-triage", "biopsy-slides"))
    assert checklist["specialty"] == "hematology"


async def _required_has(records: RecordsHarness, case_id: str, item: str) -> dict[str, Any] | None:
    checklist = await records.checklist(case_id)
    return checklist if item in checklist["required"] else None


async def test_documents_read_back_as_uploaded_and_a_repeat_is_stored_once(
    records: RecordsHarness,
) -> None:
    await records.submit("case-docs")
    family = records.auth("guardian", case_ids=["case-docs"])
    report = sample_pdf("pathology " * 100_000)
    first = await records.upload(
        "case-docs", "pathology-report", report, filename="C:\\scans\\path.pdf", headers=family
    )
    assert first.status_code == 201, first.text
    document = first.json()
    assert (document["filename"], document["content_type"]) == ("path.pdf", "application/pdf")
    repeat = await records.upload("case-docs", "pathology-report", report, headers=family)
    assert (repeat.status_code, repeat.json()["duplicate"]) == (200, True)
    assert repeat.json()["document_id"] == document["document_id"]
    assert await object_keys(records, "cases/case-docs/documents/") == [
        f"cases/case-docs/documents/{document['document_id']}"
    ]

    url = f"/cases/case-docs/documents/{document['document_id']}"
    roles: list[Role] = ["expert", "intake-staff"]
    for role in roles:
        download = await records.client.get(url, headers=records.auth(role))
        assert download.status_code == 200
        assert download.content == report
        assert download.headers["content-type"] == "application/pdf"
    other_family = records.auth("guardian", case_ids=["case-else"])
    assert (await records.client.get(url, headers=other_family)).status_code == 404


async def test_uploads_at_the_same_time_to_one_case_are_all_kept(records: RecordsHarness) -> None:
    """Each upload saves on the version it read; the ones that lose the race read again."""
    await records.submit("case-many")
    family = records.auth("guardian", case_ids=["case-many"])
    answers = await asyncio.gather(
        *(
            records.upload("case-many", "lab-results", sample_pdf(f"labs {n}"), headers=family)
            for n in range(8)
        )
    )
    assert [a.status_code for a in answers] == [201] * 8, [a.text for a in answers]
    checklist = await records.checklist("case-many")
    assert sorted(d["document_id"] for d in checklist["documents"]) == sorted(
        a.json()["document_id"] for a in answers
    )
