"""The checked-in JSON Schemas match the models, validate real events, and only grow."""

import json
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from shared.case_keys import KeyEncryptionKeys, seal
from shared.contracts import CONTRACTS, CaseSubmitted, decode_payload
from shared.envelope import CloudEvent, encode
from shared.schemas import (
    CONTRACTS_DIR,
    compatibility_problems,
    event_schema,
    schema_file_name,
    stale_files,
)
from tests.support import sample_event


def test_checked_in_contracts_are_up_to_date() -> None:
    assert stale_files() == [], "run `make contracts` and commit contracts/"


def test_a_real_event_validates_against_the_published_schema() -> None:
    model = CONTRACTS["case.submitted"].model
    schema = json.loads((CONTRACTS_DIR / schema_file_name(model)).read_text())
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(
        orjson.loads(encode(sample_event()))
    )


def test_a_sealed_event_validates_against_the_published_schema_and_a_half_sealed_one_not() -> None:
    keks = KeyEncryptionKeys("unit-test-case-key-secret-0123456789abcdef")
    model = CONTRACTS["case.submitted"].model
    schema = json.loads((CONTRACTS_DIR / schema_file_name(model)).read_text())
    event = sample_event("case-1")
    body = orjson.loads(encode(seal(event, keks.unwrap(keks.new_case_key("case-1")))))
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    validator.validate(body)
    del body["sopencryption"]
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(body)


def test_the_published_schema_rejects_a_case_without_consent() -> None:
    model = CONTRACTS["case.submitted"].model
    schema = json.loads((CONTRACTS_DIR / schema_file_name(model)).read_text())
    body = orjson.loads(encode(sample_event()))
    del body["data"]["consent"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, schema)


@pytest.mark.parametrize("event_type", list(CONTRACTS))
def test_current_models_do_not_break_consumers_of_the_published_schema(event_type: str) -> None:
    model = CONTRACTS[event_type].model
    published_files = sorted(Path(CONTRACTS_DIR).glob(f"{event_type}.v*.schema.json"))
    assert published_files
    for published in published_files:
        old = json.loads(published.read_text())
        assert compatibility_problems(old, event_schema(model)) == []


def test_the_compatibility_check_catches_removed_and_newly_required_fields() -> None:
    old = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    new = {"type": "object", "properties": {"b": {"type": "string"}}, "required": ["b"]}
    assert compatibility_problems(old, new) == ["a: removed", "b: newly required"]


def test_the_compatibility_check_follows_refs_and_knows_closed_schemas() -> None:
    def schema(guardian: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {"guardian": {"anyOf": [{"$ref": "#/$defs/G"}, {"type": "null"}]}},
            "$defs": {"G": {"type": "object", **guardian}},
        }

    closed = schema({"properties": {"a": {}}, "additionalProperties": False})
    open_ = schema({"properties": {"a": {}}})
    grown = schema({"properties": {"a": {}, "b": {}}})
    shrunk = schema({"properties": {}})
    assert compatibility_problems(open_, grown) == []
    assert compatibility_problems(closed, grown) == [
        "guardian.b: added where unknown properties are refused"
    ]
    assert compatibility_problems(open_, shrunk) == ["guardian.a: removed"]


def test_an_old_reader_takes_a_newer_producers_event_and_its_schema_allows_it() -> None:
    """A v1 event with optional fields added at the top and inside a part: decoded (the
    additions dropped) and valid against the published v1 schema."""
    body = orjson.loads(encode(sample_event("c-newer")))
    body["data"]["care_pathway"] = "neuro-oncology"
    body["data"]["guardian"]["pronouns"] = "she/her"
    payload = decode_payload(CloudEvent.model_validate(body))
    assert isinstance(payload, CaseSubmitted) and payload.case_id == "c-newer"
    assert "pronouns" not in payload.guardian.model_dump()
    model = CONTRACTS["case.submitted"].model
    schema = json.loads((CONTRACTS_DIR / schema_file_name(model)).read_text())
    jsonschema.Draft202012Validator(schema).validate(body)
    assert "ignore properties they do not know" in schema["description"]


def test_hospitals_read_their_answers_on_a_topic_of_their_own() -> None:
    """`hospital.case.outcome` is created with the platform's topics, keyed by organization,
    and no case topic (notify does not follow it)."""
    from shared.contracts import CASE_TOPICS, HOSPITAL_OUTCOME_TOPIC
    from shared.schemas import asyncapi_document
    from shared.settings import StackSettings
    from shared.topics import HOSPITAL_TOPIC, platform_topics

    assert HOSPITAL_OUTCOME_TOPIC == "hospital.case.outcome"
    assert HOSPITAL_TOPIC == "hospital.case.submitted"
    assert HOSPITAL_OUTCOME_TOPIC not in CASE_TOPICS
    names = {spec.name for spec in platform_topics(StackSettings())}
    assert {HOSPITAL_TOPIC, HOSPITAL_OUTCOME_TOPIC} <= names
    document = asyncapi_document()
    message = document["components"]["messages"]["hospital_case_outcome"]
    assert "organization" in message["bindings"]["kafka"]["key"]["description"]
    assert ".dlq" not in document["channels"]["hospital_case_outcome"]["description"]
    schema = json.loads((CONTRACTS_DIR / "hospital.case.outcome.v1.schema.json").read_text())
    assert "organization" in schema["properties"]["subject"]["description"]
