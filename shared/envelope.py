"""CloudEvents 1.0 envelope (structured JSON mode) for every event that crosses services."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any, ClassVar, Literal

import orjson
import uuid_utils
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.tracing import current_trace_fields

SCHEMA_URN_PREFIX = "urn:second-opinion:schema:"
# The extension attribute of an event whose data is encrypted with its case's key
# (shared/case_keys.py), and its one value: the scheme, so a later one can be told apart.
ENCRYPTION_ATTRIBUTE = "sopencryption"
CASE_KEY_V1 = "case-key-v1"


class InvalidEvent(Exception):
    """A message that can never be processed; `reason` is a machine code, `detail` is PHI-free."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 event; `type` is the topic name and `subject` the case id."""

    # Extension attributes (e.g. traceparent) are allowed by the spec, so extra keys are kept.
    model_config = ConfigDict(frozen=True, extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=500)
    type: str = Field(min_length=1, max_length=200)
    time: AwareDatetime
    subject: str = Field(min_length=1, max_length=200)
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str = Field(min_length=1, max_length=500)
    # The payload in clear; empty while the event is sealed (then `data_base64` holds it,
    # encrypted with the case's key, and `sopencryption` says how: shared/case_keys.py).
    data: dict[str, Any] = Field(default_factory=dict)
    data_base64: str | None = Field(default=None, min_length=1)
    sopencryption: Literal["case-key-v1"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _data_in_clear_or_sealed(cls, value: Any) -> Any:
        if isinstance(value, dict):
            sealed = value.get("data_base64") is not None
            if sealed and value.get(ENCRYPTION_ATTRIBUTE) is None:
                raise ValueError("data_base64 is only accepted encrypted (sopencryption)")
            if not sealed and "data" not in value:
                raise ValueError("data is required unless the event is sealed")
            if sealed and value.get("data"):
                raise ValueError("a sealed event carries no data in clear")
        return value

    @property
    def case_id(self) -> str:
        return self.subject

    @property
    def sealed(self) -> bool:
        """True while the payload is encrypted (open it with shared/case_keys.py)."""
        return self.data_base64 is not None

    @property
    def schema_version(self) -> int:
        """The payload version named by `dataschema` (`urn:second-opinion:schema:<type>:<n>`)."""
        prefix = f"{SCHEMA_URN_PREFIX}{self.type}:"
        if not self.dataschema.startswith(prefix):
            raise InvalidEvent("bad_dataschema", f"dataschema must start with {prefix}")
        try:
            return int(self.dataschema[len(prefix) :])
        except ValueError:
            raise InvalidEvent(
                "bad_dataschema", "dataschema must end with a version number"
            ) from None


class Payload(BaseModel):
    """Base for event payloads: frozen, versioned, strict about unknown fields when built
    (readers ignore them: `decode_payload`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    schema_version: ClassVar[int]

    @classmethod
    def dataschema(cls) -> str:
        return f"{SCHEMA_URN_PREFIX}{cls.event_type}:{cls.schema_version}"


def new_event_id() -> str:
    """A UUIDv7: unique, and sortable by creation time."""
    return str(uuid_utils.uuid7())


def make_event(
    payload: Payload,
    *,
    source: str,
    subject: str,
    event_id: str | None = None,
    time: datetime | None = None,
) -> CloudEvent:
    """Wrap a payload in a CloudEvent of its topic's type, carrying the current trace context
    as the CloudEvents Distributed Tracing extension (`traceparent`, `tracestate`)."""
    return CloudEvent(
        id=event_id or new_event_id(),
        source=source,
        type=payload.event_type,
        time=time or datetime.now(UTC),
        subject=subject,
        dataschema=payload.dataschema(),
        data=payload.model_dump(mode="json"),
        **current_trace_fields(),
    )


def event_json(event: CloudEvent) -> dict[str, Any]:
    """The structured-mode JSON object: `data` in clear, or `data_base64` when sealed."""
    obj = event.model_dump(mode="json")
    if event.sealed:
        del obj["data"]
    else:
        del obj["data_base64"], obj[ENCRYPTION_ATTRIBUTE]
    return obj


def encode(event: CloudEvent) -> bytes:
    return orjson.dumps(event_json(event))


def decode(raw: bytes | None) -> CloudEvent:
    """Parse structured-mode JSON into a CloudEvent, or raise InvalidEvent saying why."""
    if not raw:
        raise InvalidEvent("empty_message", "the message has no value")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidEvent("invalid_json", "the message value is not valid JSON") from None
    if not isinstance(obj, dict):
        raise InvalidEvent("not_a_cloudevent", "the message value is not a JSON object")
    try:
        return CloudEvent.model_validate(obj)
    except ValidationError as exc:
        raise InvalidEvent("not_a_cloudevent", describe_validation_error(exc, CloudEvent)) from None


def describe_validation_error(exc: ValidationError, model: type[BaseModel], limit: int = 5) -> str:
    """Name the failing fields and rules, never the values (which may be a child's name).

    A location step that is not a field of `model` is a key the sender chose (an unknown field,
    a key of a mapping): it may itself be a name, so it is shown as `*`.
    """
    known = _field_names(model)
    parts = []
    for err in exc.errors()[:limit]:
        steps = (str(p) if isinstance(p, int) or p in known else "*" for p in err["loc"])
        location = ".".join(steps) or "(root)"
        parts.append(f"{location}: {err['type']}")
    more = len(exc.errors()) - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


@cache
def _field_names(model: type[BaseModel]) -> frozenset[str]:
    """Every property name in the model's JSON Schema, nested models included."""
    names: set[str] = set()

    def collect(node: object) -> None:
        if isinstance(node, dict):
            properties = node.get("properties")
            if isinstance(properties, dict):
                names.update(properties)
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(model.model_json_schema())
    return frozenset(names)
