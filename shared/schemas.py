"""JSON Schemas and the AsyncAPI document generated from the contracts, so outside systems can
validate events with nothing but the checked-in files.

`python -m shared.schemas write` regenerates `contracts/`; `check` fails if it is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson
import yaml

from shared.case_keys import SEALED_TYPES
from shared.contracts import CASE_KEYS_TOPIC, CONTRACTS, HOSPITAL_OUTCOME_TOPIC, REVOCATION_TOPIC
from shared.envelope import CASE_KEY_V1, Payload
from shared.topics import DLQ_SUFFIX, INBOUND_TOPICS

CASE_KEY = "The case id; also the Kafka key."
# Topics keyed by something other than the case id, and topics no consumer group of the
# platform reads (so they have no dead-letter topic).
KEYS = {
    HOSPITAL_OUTCOME_TOPIC: "The hospital's organization (`data.organization_id`); also the "
    "Kafka key, so a hospital's answers keep their order.",
    CASE_KEYS_TOPIC: "The case id; also the Kafka key of this compacted topic: a record with "
    "no value (a tombstone) destroys the case's key, and with it every sealed event of the "
    "case.",
}
NO_DEAD_LETTERS = frozenset({HOSPITAL_OUTCOME_TOPIC, REVOCATION_TOPIC, CASE_KEYS_TOPIC})
SEALED = (
    "On the platform's own topics `data` is sealed: `data_base64` holds it encrypted with the "
    "case's key (AES-256-GCM: 12-byte nonce, then ciphertext and tag; the associated data is "
    f"`{CASE_KEY_V1}`, type, subject and id, one per line) and `sopencryption` is "
    f"`{CASE_KEY_V1}`; the other attributes stay in clear. The case's key is on `case.keys`, "
    "wrapped with the platform's key-encryption key, and destroyed when the case is erased. "
    "Outside systems get these events in clear (notify's webhooks), never from the topic."
)

CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "contracts"


def schema_file_name(model: type[Payload]) -> str:
    return f"{model.event_type}.v{model.schema_version}.schema.json"


TOLERANT_READERS = (
    "Readers ignore properties they do not know, at any depth, so a producer may add optional "
    "properties within a schema version; removing or retyping one, or making one required, "
    "is a new version."
)


def open_to_additions(schema: Any) -> Any:
    """The schema as readers apply it: without pydantic's `additionalProperties: false`."""
    if isinstance(schema, dict):
        return {
            k: open_to_additions(v)
            for k, v in schema.items()
            if not (k == "additionalProperties" and v is False)
        }
    if isinstance(schema, list):
        return [open_to_additions(v) for v in schema]
    return schema


def event_schema(model: type[Payload]) -> dict[str, Any]:
    """The whole CloudEvent for one topic: envelope attributes plus the payload as `data`."""
    data_schema = open_to_additions(
        model.model_json_schema(mode="validation", ref_template="#/$defs/{model}")
    )
    defs = data_schema.pop("$defs", {})
    description = (model.__doc__ or "").strip() or f"The {model.event_type} event."
    sealed = model.event_type in SEALED_TYPES
    if sealed:
        description = f"{description} {SEALED}"
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": model.dataschema(),
        "title": f"{model.event_type} (CloudEvents 1.0, structured JSON)",
        "description": f"{description} {TOLERANT_READERS}",
        "type": "object",
        "required": [
            "specversion",
            "id",
            "source",
            "type",
            "time",
            "subject",
            "dataschema",
            "data",
        ],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "minLength": 1, "description": "Unique; a UUIDv7."},
            "source": {"type": "string", "minLength": 1, "examples": ["/hospitals/example"]},
            "type": {"const": model.event_type},
            "time": {"type": "string", "format": "date-time"},
            "subject": {"type": "string", "description": KEYS.get(model.event_type, CASE_KEY)},
            "datacontenttype": {"const": "application/json"},
            "dataschema": {"const": model.dataschema()},
            "data": data_schema,
            # CloudEvents Distributed Tracing extension: optional, also sent as Kafka headers.
            "traceparent": {
                "type": "string",
                "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
                "description": "W3C trace context of the span that published the event "
                "(also the `traceparent` Kafka header); absent from older events.",
            },
            "tracestate": {
                "type": "string",
                "description": "W3C tracestate accompanying `traceparent`, when there is one.",
            },
        },
        "$defs": defs,
    }
    if sealed:
        schema["required"].remove("data")
        schema["oneOf"] = [{"required": ["data"]}, {"required": ["data_base64", "sopencryption"]}]
        schema["properties"] |= {
            "data_base64": {
                "type": "string",
                "contentEncoding": "base64",
                "description": "`data`, sealed with the case's key (see the description).",
            },
            "sopencryption": {"const": CASE_KEY_V1},
        }
    return schema


def asyncapi_document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event_type, contract in CONTRACTS.items():
        model = contract.model
        name = event_type.replace(".", "_")
        key = KEYS.get(event_type, "The case id.")
        dead_letters = (
            ""
            if event_type in NO_DEAD_LETTERS
            else f" Dead letters go to `{event_type}{DLQ_SUFFIX}` with the reason in the "
            "`dlq.reason` header."
        )
        messages[name] = {
            "name": event_type,
            "title": event_type,
            "contentType": "application/cloudevents+json",
            "bindings": {"kafka": {"key": {"type": "string", "description": key}}},
            "payload": {"$ref": f"./{schema_file_name(model)}"},
        }
        channels[name] = {
            "address": event_type,
            "description": f"{(model.__doc__ or event_type).strip()}{dead_letters}",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        operations[f"receive_{name}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{name}"},
        }
    for topic, event_type in INBOUND_TOPICS.items():
        name = topic.replace(".", "_")
        message = event_type.replace(".", "_")
        channels[name] = {
            "address": topic,
            "description": f"Hospital systems send `{event_type}` here (key = case id). The "
            f"intake service validates, de-duplicates by event id and by hospital request id, "
            f"republishes accepted cases on `{event_type}`, and answers each submission on "
            f"`{HOSPITAL_OUTCOME_TOPIC}`. What it cannot read as a case (schema, key) goes "
            f"to `{topic}{DLQ_SUFFIX}` only.",
            "messages": {message: {"$ref": f"#/components/messages/{message}"}},
        }
        operations[f"send_{name}"] = {"action": "send", "channel": {"$ref": f"#/channels/{name}"}}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Remote second-opinion platform events",
            "version": "1.0.0",
            "description": "Case events as CloudEvents 1.0 in structured JSON over Kafka, keyed "
            "by case id so every event of a case keeps its order.",
        },
        "defaultContentType": "application/cloudevents+json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def generated_files() -> dict[str, bytes]:
    files = {
        schema_file_name(c.model): orjson.dumps(
            event_schema(c.model), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
        )
        + b"\n"
        for c in CONTRACTS.values()
    }
    files["asyncapi.yaml"] = yaml.safe_dump(asyncapi_document(), sort_keys=False).encode()
    return files


def stale_files(directory: Path = CONTRACTS_DIR) -> list[str]:
    return [
        name
        for name, content in generated_files().items()
        if not (directory / name).exists() or (directory / name).read_bytes() != content
    ]


def compatibility_problems(
    old: dict[str, Any],
    new: dict[str, Any],
    path: str = "",
    roots: tuple[dict[str, Any], dict[str, Any]] | None = None,
) -> list[str]:
    """What in `new` would break a consumer written against `old` (two whole schemas, `$ref`s
    followed into their `$defs`): removed properties, new required properties, a changed
    type, and added properties where `old` refused unknown ones (such a reader dead-letters
    them). Additions pass where readers ignore unknown properties."""
    old_root, new_root = roots or (old, new)
    old, new = _followed(old, old_root), _followed(new, new_root)
    problems = []
    if old.get("type") != new.get("type") and "type" in old:
        problems.append(f"{path or '(root)'}: type changed")
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    if old.get("additionalProperties") is False:
        problems += [
            f"{path}{name}: added where unknown properties are refused"
            for name in sorted(set(new_props) - set(old_props))
        ]
    for name in old_props:
        if name not in new_props:
            problems.append(f"{path}{name}: removed")
        else:
            problems += compatibility_problems(
                old_props[name], new_props[name], f"{path}{name}.", (old_root, new_root)
            )
    for name in sorted(set(new.get("required", [])) - set(old.get("required", []))):
        problems.append(f"{path}{name}: newly required")
    return problems


def _followed(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """The object schema a property stands for: its `$ref` resolved, or the one object
    variant of an optional (`anyOf` with null)."""
    variants = [v for v in schema.get("anyOf", []) if v.get("type") != "null"]
    if len(variants) == 1:
        schema = variants[0]
    ref = schema.get("$ref", "")
    if ref.startswith("#/$defs/"):
        found: dict[str, Any] = root.get("$defs", {}).get(ref.removeprefix("#/$defs/"), {})
        return found
    return schema


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "check"
    if command == "write":
        CONTRACTS_DIR.mkdir(exist_ok=True)
        for name, content in generated_files().items():
            (CONTRACTS_DIR / name).write_bytes(content)
        print(f"wrote {len(generated_files())} files to {CONTRACTS_DIR}")
        return 0
    stale = stale_files()
    if stale:
        print("stale contracts (run `make contracts`):", ", ".join(stale))
        return 1
    print("contracts are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
