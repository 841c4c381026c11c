"""Hospital systems emit `case.submitted` onto `hospital.case.submitted`; intake checks it,
drops repeats (same event id, or same hospital request id from the same organization) and
republishes each new case once on the platform topic. What can never be valid goes to the DLQ
with the reason."""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
import pytest

from shared.contracts import HOSPITAL_OUTCOME_TOPIC as OUTCOME_TOPIC
from shared.contracts.case_submitted import Patient
from shared.envelope import CloudEvent, encode, make_event
from shared.topics import dlq_topic
from tests.integration.intake.conftest import (
    HOSPITAL_TOPIC,
    IntakeHarness,
    read_topic,
    read_topic_with_keys,
)
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

    # Each submission is answered once, on the hospitals' topic, keyed by organization.
    answers = await eventually(lambda: _answers(intake, 3))
    by_case = {a["submitted_case_id"]: (key, a) for key, a in answers}
    assert len(answers) == 3 and by_case.keys() == {"north-1", "north-2", "west-1"}
    key, accepted = by_case["north-1"]
    assert key == "org-north" and accepted["submission_id"] == first.id
    assert (accepted["outcome"], accepted["accepted_case_id"]) == ("accepted", "north-1")
    key, reused = by_case["north-2"]
    assert key == "org-north" and reused["outcome"] == "rejected"
    assert (reused["code"], reused["field"]) == ("duplicate_request_id", "hospital_request_id")
    assert reused["earlier_case_id"] == "north-1"
    assert by_case["west-1"] == ("org-west", by_case["west-1"][1])
    assert by_case["west-1"][1]["accepted_case_id"] == "west-1"


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

    # Every submission is answered: what failed validation with its DLQ reason and field,
    # rule failures and a taken case id with the field and a code (never a value); the good
    # one is accepted.
    answers = await eventually(lambda: _answers(intake, 7))
    rejected = {
        a["submitted_case_id"]: (a["code"], a["field"])
        for _, a in answers
        if a["outcome"] == "rejected"
    }
    assert rejected == {
        "bad-1": ("invalid_payload", "consent"),
        "bad-3": ("key_mismatch", None),
        "bad-2": ("date_in_future", "patient.date_of_birth"),
        "bad-4": ("unknown_consent_version", "consent.text_version"),
        "taken-1": ("case_id_taken", "case_id"),
    }
    good = [a for _, a in answers if a["submitted_case_id"] == "good-1"]
    assert [(a["outcome"], a["accepted_case_id"]) for a in good] == [("accepted", "good-1")]
    # taken-1 first came from /tests, which names no organization: answered by its source.
    assert {key for key, _ in answers} == {"org-north", "/tests"}
    raw = b"".join(value for value, _ in await _raw_answers(intake))
    assert b"Quinterofake" not in raw and b"@" not in raw and b"2999-01-01" not in raw


async def _raw_answers(intake: IntakeHarness) -> list[tuple[bytes, bytes]]:
    consumer_view = await read_topic_with_keys(intake.stack, intake.stack.topic(OUTCOME_TOPIC))
    return [(value, key) for key, value in consumer_view]


async def _answers(intake: IntakeHarness, count: int) -> list[tuple[str, dict[str, Any]]]:
    """(key, data) of every answer so far, once `count` are there (a wait for the relay)."""
    found = [
        (key.decode(), orjson.loads(value)["data"]) for value, key in await _raw_answers(intake)
    ]
    return found if len(found) >= count else []


def _born(year: int) -> Patient:
    return sample_case().patient.model_copy(update={"date_of_birth": date(year, 1, 1)})


async def _dead_letters(intake: IntakeHarness, count: int) -> list[tuple[bytes, dict[str, bytes]]]:
    found = await read_topic(intake.stack, dlq_topic(intake.stack.topic(HOSPITAL_TOPIC)))
    return found if len(found) >= count else []
