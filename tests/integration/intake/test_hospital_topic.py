"""Hospital systems emit `case.submitted` onto `hospital.case.submitted`; intake checks it,
drops repeats (same event id, or same hospital request id from the same organization) and
republishes each new case once on the platform topic. What can never be valid goes to the DLQ
with the reason."""

from __future__ import annotations

from datetime import date

import orjson
import pytest

from shared.contracts.case_submitted import Patient
from shared.envelope import CloudEvent, encode, make_event
from shared.topics import dlq_topic
from tests.integration.intake.conftest import HOSPITAL_TOPIC, IntakeHarness, read_topic
from tests.support import eventually, sample_case, sample_event

pytestmark = pytest.mark.real


def hospital_event(
    case_id: str, request_id: str | None = "REQ-77", **changes: object
) -> CloudEvent:
    case = sample_case(
        case_id, organization_id="org-north", hospital_request_id=request_id, **changes
    )
    return make_event(case, source="/hospitals/north", subject=case_id)


async def test_repeats_by_event_id_or_hospital_request_make_no_second_case(
    intake: IntakeHarness,
) -> None:
    first = hospital_event("north-1")
    same_request = hospital_event("north-2")  # a new event and case id for the same request
    other_org = make_event(
        sample_case("west-1", organization_id="org-west", hospital_request_id="REQ-77"),
        source="/hospitals/west",
        subject="west-1",
    )
    await intake.send_hospital(first)
    await intake.send_hospital(first)
    await eventually(lambda: intake.published("case.submitted", "north-1"))
    # Sent after the first was taken: on another partition it could otherwise win the race.
    await intake.send_hospital(same_request)
    await intake.send_hospital(other_org)
    await eventually(intake.inbound_consumed)

    published = await eventually(lambda: intake.published("case.submitted", "north-1"))
    assert len(published) == 1
    assert published[0].id != first.id  # intake's own event, not the hospital's
    assert published[0].data["submitted_via"] == "hospital-system"
    assert published[0].data["hospital_request_id"] == "REQ-77"
    assert await eventually(lambda: intake.published("case.submitted", "west-1"))
    assert await intake.published("case.submitted", "north-2") == []
    listed = (await intake.client.get("/cases", headers=intake.staff)).json()
    assert sorted(c["case_id"] for c in listed) == ["north-1", "west-1"]


async def test_invalid_hospital_events_go_to_the_dlq_with_the_reason(
    intake: IntakeHarness,
) -> None:
    no_consent = orjson.loads(encode(hospital_event("bad-1", "REQ-1")))
    del no_consent["data"]["consent"]
    await intake.send_raw("bad-1", orjson.dumps(no_consent))
    await intake.send_hospital(hospital_event("bad-2", "REQ-2", patient=_born(2999)))
    await intake.send_hospital(hospital_event("bad-3", "REQ-3"), key="not-the-subject")
    # A case id that another sender's case already has.
    await intake.send_hospital(sample_event("taken-1"))
    await eventually(lambda: intake.published("case.submitted", "taken-1"))
    await intake.send_hospital(hospital_event("taken-1", "REQ-4"))
    unknown_text = sample_case().consent.model_copy(update={"text_version": "valley-v3"})
    await intake.send_hospital(hospital_event("bad-4", "REQ-6", consent=unknown_text))
    await intake.send_hospital(hospital_event("good-1", "REQ-5"))

    dead = await eventually(lambda: _dead_letters(intake, 5))
    reasons = {
        headers["dlq.reason"].decode(): headers["dlq.detail"].decode() for _, headers in dead
    }
    assert reasons.keys() == {"invalid_payload", "rejected", "key_mismatch"}
    assert "consent" in reasons["invalid_payload"]
    details = sorted(headers["dlq.detail"].decode() for _, headers in dead)
    assert "patient.date_of_birth: date_in_future" in details
    assert "consent.text_version: unknown_consent_version" in details
    assert any(d.startswith("case_id:") for d in details)
    for value, headers in dead:
        assert b"Quinterofake" not in headers["dlq.detail"] and value
    assert await eventually(lambda: intake.published("case.submitted", "good-1"))
    for case_id in ("bad-1", "bad-2", "bad-3", "bad-4"):
        assert await intake.published("case.submitted", case_id) == []


def _born(year: int) -> Patient:
    return sample_case().patient.model_copy(update={"date_of_birth": date(year, 1, 1)})


async def _dead_letters(intake: IntakeHarness, count: int) -> list[tuple[bytes, dict[str, bytes]]]:
    found = await read_topic(intake.stack, dlq_topic(intake.stack.topic(HOSPITAL_TOPIC)))
    return found if len(found) >= count else []
