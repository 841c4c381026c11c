"""Crypto-shredding (shared/case_keys.py): sealed case events open with their case's key only,
refuse tampering, and become unreadable once the key is destroyed."""

from __future__ import annotations

import base64

import orjson
import pytest
from aiokafka import ConsumerRecord
from pydantic import SecretStr

from shared.bus import InMemoryEventPublisher
from shared.case_keys import (
    DESTROYED,
    SEALED_TYPES,
    CaseCipher,
    CaseKeyError,
    CaseKeyring,
    KeyEncryptionKeys,
    keyring_of,
    open_sealed,
    seal,
)
from shared.consumer import ConsumerRunner, Delivery
from shared.contracts import CaseErased, CaseKey, decode_payload
from shared.envelope import CloudEvent, InvalidEvent, decode, encode, make_event
from shared.settings import StackSettings
from tests.support import sample_event

SECRET = "unit-test-case-key-secret-0123456789abcdef"
STACK = StackSettings(sop_case_key_secret=SecretStr(SECRET))


def key_event(key: CaseKey) -> CloudEvent:
    return make_event(key, source="/tests", subject=key.case_id)


def test_a_sealed_event_keeps_its_routing_in_clear_and_no_personal_data() -> None:
    keks = KeyEncryptionKeys(SECRET)
    data_key = keks.unwrap(keks.new_case_key("case-1"))
    event = sample_event("case-1")
    raw = encode(seal(event, data_key))
    # The sample's child, guardian and physician appear nowhere in the bytes on Kafka.
    for value in (
        event.data["patient"]["family_name"],
        event.data["patient"]["date_of_birth"],
        event.data["guardian"]["email"],
        event.data["referring_physician"]["name"],
    ):
        assert value.encode() not in raw
    obj = orjson.loads(raw)
    assert "data" not in obj and obj["sopencryption"] == "case-key-v1"
    assert (obj["id"], obj["type"], obj["subject"]) == (event.id, event.type, "case-1")
    sealed = decode(raw)
    assert sealed.sealed and sealed.data == {}
    with pytest.raises(InvalidEvent) as caught:
        decode_payload(sealed)  # a reader that forgot to open it stops here
    assert caught.value.reason == "sealed"
    opened = open_sealed(sealed, data_key)
    assert opened == event and not opened.sealed
    assert decode(encode(opened)) == event


def test_another_case_key_or_a_tampered_event_does_not_open() -> None:
    keks = KeyEncryptionKeys(SECRET)
    data_key = keks.unwrap(keks.new_case_key("case-1"))
    other_key = keks.unwrap(keks.new_case_key("case-2"))
    sealed = seal(sample_event("case-1"), data_key)
    with pytest.raises(InvalidEvent, match="undecryptable"):
        open_sealed(sealed, other_key)
    raw = bytearray(base64.b64decode(sealed.data_base64 or ""))
    raw[20] ^= 1
    flipped = sealed.model_copy(update={"data_base64": base64.b64encode(bytes(raw)).decode()})
    with pytest.raises(InvalidEvent, match="undecryptable"):
        open_sealed(flipped, data_key)
    # The ciphertext is bound to its event: moved under another id it does not open.
    moved = sealed.model_copy(update={"id": "another-event"})
    with pytest.raises(InvalidEvent, match="undecryptable"):
        open_sealed(moved, data_key)


def test_a_wrapped_key_opens_only_with_its_kek_and_for_its_case() -> None:
    keks = KeyEncryptionKeys(SECRET)
    wrapped = keks.new_case_key("case-1")
    assert wrapped.kek_id == keks.current_id and wrapped.wrapped_key
    with pytest.raises(CaseKeyError):
        KeyEncryptionKeys("another-secret-another-secret-0123456789").unwrap(wrapped)
    with pytest.raises(CaseKeyError):
        keks.unwrap(wrapped.model_copy(update={"case_id": "case-2"}))
    # After a rotation the earlier secret still unwraps the keys it wrapped; new ones use the
    # new secret.
    rotated = KeyEncryptionKeys("the-next-secret-0123456789abcdefghij", previous=[SECRET])
    assert rotated.unwrap(wrapped) == keks.unwrap(wrapped)
    assert rotated.new_case_key("case-3").kek_id == rotated.current_id != keks.current_id


async def test_the_publisher_seals_case_events_with_the_key_it_published_first() -> None:
    keyring = CaseKeyring()
    cipher = CaseCipher(STACK, keyring)
    publisher = InMemoryEventPublisher(STACK, cipher=cipher)
    key = KeyEncryptionKeys.of(STACK).new_case_key("case-1")
    erased = CaseErased.model_validate(
        {
            "case_id": "case-1",
            "erased_at": "2026-01-01T00:00:00Z",
            "reason": "family-request",
            "actor": {"subject": "staff-1", "role": "intake"},
        }
    )
    events = [
        key_event(key),
        sample_event("case-1"),
        make_event(erased, source="/tests", subject="case-1"),
    ]
    await publisher.publish(events)
    keys, submitted, erasure = publisher.records
    assert decode(keys.value).data["wrapped_key"] == key.wrapped_key
    assert decode(submitted.value).sealed
    assert not decode(erasure.value).sealed  # every service must read it, key or no key
    assert "case.submitted" in SEALED_TYPES and "case.erased" not in SEALED_TYPES
    # A consumer in another process, with the key read from the topic, opens it.
    reader = CaseKeyring()
    reader.learn(key)
    opened = await CaseCipher(STACK, reader).open(decode(submitted.value))
    assert opened is not None and opened.data == events[1].data


async def test_a_destroyed_key_makes_the_case_unreadable_and_stays_destroyed() -> None:
    keyring = CaseKeyring()
    cipher = CaseCipher(STACK, keyring)
    publisher = InMemoryEventPublisher(STACK, cipher=cipher)
    key = KeyEncryptionKeys.of(STACK).new_case_key("case-1")
    await publisher.publish([key_event(key), sample_event("case-1")])
    sealed = decode(publisher.records[1].value)
    await publisher.publish([key_event(CaseKey(case_id="case-1"))])
    tombstone = publisher.records[2]
    assert tombstone.value is None and tombstone.key == b"case-1"
    assert keyring.lookup("case-1") is DESTROYED
    # Its events are skipped, and none is published any more.
    assert await cipher.open(sealed) is None
    await publisher.publish([sample_event("case-1")])
    assert len(publisher.records) == 3
    # A reader that sees the key again after the tombstone (two readers, any order) does not
    # bring it back.
    keyring.learn(key)
    assert keyring.lookup("case-1") is DESTROYED


async def test_a_sealed_event_with_no_known_key_is_refused_and_a_keyless_case_stays_clear() -> None:
    cipher = CaseCipher(STACK, CaseKeyring())
    keks = KeyEncryptionKeys.of(STACK)
    sealed = seal(sample_event("case-9"), keks.unwrap(keks.new_case_key("case-9")))
    with pytest.raises(InvalidEvent, match="unknown_case_key"):
        await cipher.open(sealed)
    # A case opened before case keys existed has none: its events go out as they always did.
    event = sample_event("case-old")
    assert await cipher.seal(event) == event


async def test_a_key_published_after_its_case_event_in_one_batch_still_seals_it() -> None:
    publisher = InMemoryEventPublisher(STACK, cipher=CaseCipher(STACK, CaseKeyring()))
    key = KeyEncryptionKeys.of(STACK).new_case_key("case-1")
    await publisher.publish([sample_event("case-1"), key_event(key)])
    assert decode(publisher.records[0].value).sealed


async def test_the_consumer_runner_opens_skips_and_dead_letters_sealed_events() -> None:
    keks = KeyEncryptionKeys.of(StackSettings())
    key = keks.new_case_key("runner-1")
    keyring_of(StackSettings()).learn(key)
    data_key = keks.unwrap(key)
    seen: list[CloudEvent] = []

    async def handler(delivery: Delivery) -> None:
        seen.append(delivery.event)

    dead = InMemoryEventPublisher()
    runner = ConsumerRunner(
        stack=StackSettings(),
        group_id="records",
        handlers={"case.submitted": handler},
        publisher=dead,
    )
    event = sample_event("runner-1")
    sealed = encode(seal(event, data_key))
    await runner._process(record("runner-1", sealed))
    assert [e.data for e in seen] == [event.data]  # the handler sees it in clear

    tampered = sealed.replace(b'"data_base64":"', b'"data_base64":"AAAA')
    await runner._process(record("runner-1", tampered))
    other = encode(seal(sample_event("runner-2"), data_key))  # no key known for runner-2
    await runner._process(record("runner-2", other))
    reasons = [dict(r.headers)["dlq.reason"] for r in dead.records]
    assert reasons == [b"undecryptable", b"unknown_case_key"]
    assert dead.records[0].value == tampered  # dead letters keep the bytes as they came

    keyring_of(StackSettings()).destroy("runner-1")
    await runner._process(record("runner-1", sealed))
    assert len(seen) == 1 and len(dead.records) == 2  # skipped: the case was erased


def record(case_id: str, value: bytes) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic="case.submitted",
        partition=0,
        offset=1,
        timestamp=0,
        timestamp_type=0,
        key=case_id.encode(),
        value=value,
        checksum=None,
        serialized_key_size=len(case_id),
        serialized_value_size=len(value),
        headers=[],
    )


async def test_the_events_before_a_keys_destruction_in_one_batch_still_go_out() -> None:
    publisher = InMemoryEventPublisher(STACK, cipher=CaseCipher(STACK, CaseKeyring()))
    key = KeyEncryptionKeys.of(STACK).new_case_key("case-1")
    cancel = sample_event("case-1")
    await publisher.publish([key_event(key), cancel, key_event(CaseKey(case_id="case-1"))])
    topics = [(r.topic, r.value is None) for r in publisher.records]
    assert topics == [("case.keys", False), ("case.submitted", False), ("case.keys", True)]
    assert decode(publisher.records[1].value).sealed
