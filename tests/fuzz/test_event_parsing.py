"""Hostile CloudEvents: mutations of valid encoded events either decode to a valid payload or
raise InvalidEvent with a code, and the reason and detail (the DLQ headers) never carry PHI."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import example, given
from hypothesis import strategies as st

from shared.audit import access_record
from shared.contracts import CONTRACTS, decode_payload
from shared.envelope import CloudEvent, InvalidEvent, Payload, decode, encode, make_event
from tests.fuzz.budget import fuzz
from tests.support import sample_event

GIVEN, FAMILY, EMAIL = "Amelia", "Quinterofake", "rosa.parent@example.org"
PHI = (GIVEN, FAMILY, EMAIL, "Rosa Quinterofake", "MRN-77-1234", "2016-04-09")
ATTRIBUTES = ("specversion", "id", "source", "type", "time", "subject", "datacontenttype",
              "dataschema", "data")  # fmt: skip


def _access_event() -> CloudEvent:
    record = access_record(
        service="records",
        method="GET",
        route="/cases/{case_id}/documents/{document_id}",
        path_params={"case_id": "case-0001", "document_id": "d9"},
        case_id="case-0001",
        status_code=200,
        principal=None,
        client="127.0.0.1",
        now=datetime(2026, 11, 23, tzinfo=UTC),
    )
    return make_event(record, source="/tests", subject="case-0001")


SEEDS: list[dict[str, Any]] = [
    orjson.loads(encode(sample_event())),
    orjson.loads(encode(sample_event("case-0002", urgency="urgent"))),
    orjson.loads(encode(_access_event())),
]

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(PHI),
    st.sampled_from(["", " ", "1.0", "2.0", "application/xml", "case-0001", "case.submitted"]),
    st.builds(
        lambda c, n: c * n,
        st.sampled_from(["a", "é", "\x00", "🧒", GIVEN]),
        st.integers(0, 100_000),
    ),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=10), st.sampled_from(PHI)), inner, max_size=4),
    ),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _paths(inner, (*prefix, index))
    return found


def _parent(obj: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        obj = obj[step]
    return obj


@st.composite
def structural(draw: st.DrawFn) -> bytes:
    """A valid event with a few of its attributes or payload fields changed, added or removed."""
    obj = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(obj)
        action = draw(st.sampled_from(["replace", "delete", "add", "rename", "special"]))
        path = draw(st.sampled_from(paths)) if paths else ("data",)
        parent = _parent(obj, path)
        if action == "replace":
            parent[path[-1]] = draw(json_values)
        elif action == "delete" and isinstance(parent, dict):
            parent.pop(path[-1], None)
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.one_of(st.text(max_size=20), st.sampled_from(PHI)))] = draw(json_values)
        elif action == "rename" and isinstance(parent, dict) and path[-1] in parent:
            parent[draw(st.sampled_from(PHI))] = parent.pop(path[-1])
        elif action == "special":
            _special(draw, obj)
    return orjson.dumps(obj)


def _special(draw: st.DrawFn, obj: dict[str, Any]) -> None:
    """Mistakes a producer makes: unknown types, other versions, a subject for another case."""
    kind = draw(st.sampled_from(["type", "version", "subject", "drop_attribute", "extension"]))
    if kind == "type":
        obj["type"] = draw(st.one_of(st.sampled_from([*CONTRACTS, *PHI]), st.text(max_size=40)))
    elif kind == "version":
        version = draw(st.one_of(st.integers(-3, 10**30), st.text(max_size=8)))
        obj["dataschema"] = f"urn:second-opinion:schema:{obj.get('type')}:{version}"
    elif kind == "subject":
        obj["subject"] = draw(st.one_of(st.sampled_from(PHI), st.text(min_size=1, max_size=40)))
    elif kind == "drop_attribute":
        obj.pop(draw(st.sampled_from(ATTRIBUTES)), None)
    else:
        obj[draw(st.text(max_size=20))] = draw(json_values)


@st.composite
def byte_level(draw: st.DrawFn) -> bytes:
    """Encoded bytes flipped, cut, spliced with garbage or repeated."""
    raw = bytearray(orjson.dumps(draw(st.sampled_from(SEEDS))))
    for _ in range(draw(st.integers(1, 6))):
        if not raw:
            break
        at = draw(st.integers(0, len(raw) - 1))
        action = draw(st.sampled_from(["flip", "cut", "insert", "delete", "repeat"]))
        if action == "flip":
            raw[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "cut":
            del raw[at:]
        elif action == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif action == "delete":
            del raw[at : at + draw(st.integers(1, 32))]
        else:
            raw[at:at] = raw[at : at + draw(st.integers(1, 64))] * draw(st.integers(1, 50))
    return bytes(raw)


def _decode_whole(raw: bytes | None) -> Payload:
    return decode_payload(decode(raw))


def _assert_safe(raw: bytes | None) -> None:
    try:
        payload = _decode_whole(raw)
    except InvalidEvent as invalid:
        assert invalid.reason and invalid.reason.replace("_", "").isalpha(), invalid.reason
        assert isinstance(invalid.detail, str) and invalid.detail
        for text in (invalid.reason, invalid.detail, str(invalid)):
            for value in PHI:
                assert value.lower() not in text.lower(), f"{value!r} leaked into {text!r}"
        return
    assert isinstance(payload, Payload)


@fuzz(default=400)
@given(structural())
@example(orjson.dumps({**SEEDS[0], "type": GIVEN}))  # the unknown type was echoed
@example(orjson.dumps({**SEEDS[2], "data": {**SEEDS[2]["data"], "entities": {GIVEN: ""}}}))
def test_mutated_attributes_and_payloads_decode_or_are_invalid(raw: bytes) -> None:
    _assert_safe(raw)


@fuzz(default=400)
@given(byte_level())
@example(b"")
@example(b"[]")
@example(b"\xff\xfe")
@example(b"[" * 5000)
def test_mutated_bytes_decode_or_are_invalid(raw: bytes) -> None:
    _assert_safe(raw)


@fuzz(default=100)
@given(st.binary(max_size=512) | st.text(max_size=200).map(str.encode))
def test_random_bytes_are_invalid(raw: bytes) -> None:
    _assert_safe(raw)


def test_none_is_invalid() -> None:
    _assert_safe(None)
