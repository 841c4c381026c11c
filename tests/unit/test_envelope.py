from datetime import UTC, datetime

import orjson
import pytest

from shared.contracts import CaseSubmitted, decode_payload
from shared.envelope import InvalidEvent, decode, encode
from tests.support import sample_event


def test_an_event_round_trips_through_bytes() -> None:
    event = sample_event("case-1")
    again = decode(encode(event))
    assert again == event
    assert again.type == "case.submitted"
    assert again.subject == "case-1"
    assert again.dataschema == "urn:second-opinion:schema:case.submitted:1"
    assert isinstance(decode_payload(again), CaseSubmitted)


def test_event_ids_are_unique_and_time_ordered() -> None:
    ids = [sample_event().id for _ in range(50)]
    assert len(set(ids)) == 50
    assert ids == sorted(ids)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty_message"),
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "not_a_cloudevent"),
        (b'{"specversion": "0.3"}', "not_a_cloudevent"),
    ],
)
def test_malformed_messages_are_rejected_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode(raw)
    assert caught.value.reason == reason


def test_a_payload_error_names_the_field_but_never_the_value() -> None:
    event = sample_event("case-2")
    body = orjson.loads(encode(event))
    body["data"]["patient"]["date_of_birth"] = "Amelia-not-a-date"
    with pytest.raises(InvalidEvent) as caught:
        decode_payload(decode(orjson.dumps(body)))
    assert caught.value.reason == "invalid_payload"
    assert "patient.date_of_birth" in caught.value.detail
    assert "Amelia" not in caught.value.detail


def test_subject_must_be_the_case_id() -> None:
    body = orjson.loads(encode(sample_event("case-3")))
    body["subject"] = "case-other"
    with pytest.raises(InvalidEvent) as caught:
        decode_payload(decode(orjson.dumps(body)))
    assert caught.value.reason == "subject_mismatch"


def test_unknown_types_and_future_versions_are_rejected() -> None:
    event = sample_event("case-4")
    unknown = event.model_copy(update={"type": "case.exploded"})
    with pytest.raises(InvalidEvent, match="unknown_type"):
        decode_payload(unknown)
    future = event.model_copy(update={"dataschema": "urn:second-opinion:schema:case.submitted:99"})
    with pytest.raises(InvalidEvent, match="unsupported_version"):
        decode_payload(future)


def test_time_must_carry_a_timezone() -> None:
    body = orjson.loads(encode(sample_event()))
    body["time"] = datetime(2026, 1, 1).isoformat()
    with pytest.raises(InvalidEvent):
        decode(orjson.dumps(body))
    body["time"] = datetime(2026, 1, 1, tzinfo=UTC).isoformat()
    assert decode(orjson.dumps(body)).time.tzinfo is not None


def test_a_case_without_questions_or_consent_is_invalid() -> None:
    with pytest.raises(ValueError, match="questions"):
        sample_event(questions=[])
