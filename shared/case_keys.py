"""Crypto-shredding of a case's personal data on Kafka (issue 14).

Erasure deletes a case's data from every store, but the events on the case topics are kept for
good (read models are rebuilt from them). So the payload of every case event the platform
publishes is encrypted with a key of its own case, and erasing the case destroys that key:
the events stay on the topics, and nobody can read them any more.

- Intake makes each case's data key (AES-256-GCM) when it opens the case, wraps it with the
  platform's key-encryption key (KEK, from `SOP_CASE_KEY_SECRET`) and publishes it on the
  compacted topic `case.keys` (key: the case id) through its outbox, before `case.submitted`.
  On erasure it publishes the key's tombstone: compaction then removes the key from the log.
- The publisher seals events on their way out (`CaseCipher.seal`): `data` becomes
  `data_base64` (nonce + ciphertext) and the extension attribute `sopencryption` names the
  scheme; id, type, source, subject, time, dataschema and `traceparent` stay in clear, so
  routing, de-duplication, dead letters, re-drive and tracing work without the key.
- Every process reads `case.keys` from the beginning into memory (`CaseKeyReader`, as it reads
  revocations and erasures) and follows it; the consumer runner opens each sealed event before
  its handler sees it. A key not known yet (the key and the event are on different topics) is
  looked for on the topic again; a destroyed key means an erased case: the event is skipped.

Sealed: every case event whose payload can hold personal data (names, contact details, free
text). In clear: `case.erased` (ids and codes; every service must read it, key or no key),
`case.keys` itself, `access.revoked`, `audit.access` (PHI-free by design) and
`hospital.case.outcome` (read by hospital systems; ids and codes only). The hospitals' own
inbound `hospital.case.submitted` is written by them in clear: it has a finite retention
(shared/topics.py), and intake republishes each case on `case.submitted`, sealed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import os
import time
from collections.abc import Sequence
from enum import Enum

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.contracts import (
    CASE_KEYS_TOPIC,
    CASE_TOPICS,
    CaseErased,
    CaseKey,
    decode_payload,
    payload_as,
)
from shared.envelope import (
    CASE_KEY_V1,
    ENCRYPTION_ATTRIBUTE,
    CloudEvent,
    InvalidEvent,
    decode,
    event_json,
)
from shared.settings import StackSettings
from shared.topic_follower import TopicFollower

log = logging.getLogger(__name__)

# The events whose payload is encrypted with their case's key (see the module's docstring).
SEALED_TYPES = frozenset(CASE_TOPICS) - {CaseErased.event_type}
NONCE_BYTES = 12
MISSING_RECHECK_S = 60.0
DATA_KEY_BYTES = 32


class CaseKeyError(Exception):
    """A case key that this process cannot unwrap: a key-encryption secret is missing or wrong
    (a configuration to fix, not an event to dead-letter). The message names no data."""


class KeyState(Enum):
    DESTROYED = "destroyed"


DESTROYED = KeyState.DESTROYED


class KeyEncryptionKeys:
    """The platform's key-encryption keys: the current one wraps new case keys; earlier ones
    (after a rotation) still unwrap the keys they wrapped."""

    def __init__(self, secret: str, previous: Sequence[str] = ()) -> None:
        current = _derive(secret)
        self.current_id = _kek_id(current)
        self._current = AESGCM(current)
        self._by_id = {_kek_id(k): AESGCM(k) for k in map(_derive, [*previous, secret])}

    @classmethod
    def of(cls, stack: StackSettings) -> KeyEncryptionKeys:
        previous = stack.sop_case_key_previous_secrets.get_secret_value()
        return cls(
            stack.sop_case_key_secret.get_secret_value(),
            [s.strip() for s in previous.split(",") if s.strip()],
        )

    def new_case_key(self, case_id: str) -> CaseKey:
        """A fresh data key for a case, wrapped with the current KEK."""
        return self.wrap(case_id, AESGCM.generate_key(bit_length=DATA_KEY_BYTES * 8))

    def wrap(self, case_id: str, data_key: bytes) -> CaseKey:
        nonce = os.urandom(NONCE_BYTES)
        # The case id is bound in: a wrapped key copied onto another case does not unwrap.
        wrapped = nonce + self._current.encrypt(nonce, data_key, _key_aad(case_id))
        return CaseKey(
            case_id=case_id,
            kek_id=self.current_id,
            wrapped_key=base64.b64encode(wrapped).decode(),
        )

    def unwrap(self, key: CaseKey) -> bytes:
        kek = self._by_id.get(key.kek_id or "")
        if kek is None or key.wrapped_key is None:
            raise CaseKeyError("the case key was wrapped with a key-encryption key not configured")
        try:
            raw = base64.b64decode(key.wrapped_key, validate=True)
            return kek.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _key_aad(key.case_id))
        except (InvalidTag, ValueError, binascii.Error):
            raise CaseKeyError("the case key does not unwrap with its key-encryption key") from None


def seal(event: CloudEvent, data_key: bytes) -> CloudEvent:
    """The event with its payload encrypted: `data_base64` (nonce + ciphertext), marked."""
    if event.sealed:
        return event
    nonce = os.urandom(NONCE_BYTES)
    plaintext = orjson.dumps(event.data)
    sealed = nonce + AESGCM(data_key).encrypt(nonce, plaintext, _event_aad(event))
    return event.model_copy(
        update={
            "data": {},
            "data_base64": base64.b64encode(sealed).decode(),
            "sopencryption": CASE_KEY_V1,
        }
    )


def open_sealed(event: CloudEvent, data_key: bytes) -> CloudEvent:
    """The event with its payload in clear; InvalidEvent if it was altered or is not this
    case's (the wrong key, another event's ciphertext)."""
    if not event.sealed:
        return event
    assert event.data_base64 is not None
    try:
        raw = base64.b64decode(event.data_base64, validate=True)
        plaintext = AESGCM(data_key).decrypt(
            raw[:NONCE_BYTES], raw[NONCE_BYTES:], _event_aad(event)
        )
        data = orjson.loads(plaintext)
    except (InvalidTag, ValueError, binascii.Error):
        raise InvalidEvent(
            "undecryptable", "the event's data does not open with its case key"
        ) from None
    if not isinstance(data, dict):
        raise InvalidEvent("undecryptable", "the event's opened data is not a JSON object")
    opened = {**event_json(event), "data": data}
    del opened["data_base64"], opened[ENCRYPTION_ATTRIBUTE]
    return CloudEvent.model_validate(opened)


class CaseKeyring:
    """The wrapped data key of every case this process has read of (ids and wrapped keys only:
    nothing here opens without the KEK), and the cases whose key was destroyed."""

    def __init__(self) -> None:
        self._keys: dict[str, CaseKey] = {}
        self._destroyed: set[str] = set()
        # Cases looked for on the topic and not found, and when: a case opened before case
        # keys existed has none, and its events must not each read the topic again.
        self._missing: dict[str, float] = {}
        # Set by the process's CaseKeyReader: reads what was published since, when a key is
        # looked for and not known yet.
        self.reader: CaseKeyReader | None = None

    def learn(self, key: CaseKey) -> None:
        if key.wrapped_key is None:
            self.destroy(key.case_id)
        elif key.case_id not in self._destroyed:
            # A destroyed key stays destroyed, whatever order two readers apply records in.
            self._keys[key.case_id] = key

    def destroy(self, case_id: str) -> None:
        self._destroyed.add(case_id)
        self._keys.pop(case_id, None)

    def lookup(self, case_id: str) -> CaseKey | KeyState | None:
        """The case's key, DESTROYED (the case was erased), or None (not known here)."""
        if case_id in self._destroyed:
            return DESTROYED
        return self._keys.get(case_id)

    async def find(self, case_id: str, *, must_exist: bool = False) -> CaseKey | KeyState | None:
        """As `lookup`, reading the keys topic again if the key is not known yet: always when
        it `must_exist` (a sealed event names it), else at most once a minute per case."""
        found = self.lookup(case_id)
        if found is not None or self.reader is None:
            return found
        now = time.monotonic()
        if not must_exist and now - self._missing.get(case_id, -MISSING_RECHECK_S) < (
            MISSING_RECHECK_S
        ):
            return None
        await self.reader.refresh(case_id)
        found = self.lookup(case_id)
        if found is None:
            self._missing[case_id] = now
        else:
            self._missing.pop(case_id, None)
        return found

    def __len__(self) -> int:
        return len(self._keys)


_KEYRINGS: dict[str, CaseKeyring] = {}


def keyring_of(stack: StackSettings) -> CaseKeyring:
    """The process's keyring for a stack: the publisher, the consumer runner and the reader
    share it. One in a service; a test process runs many namespaces, each its own topics."""
    return _KEYRINGS.setdefault(stack.sop_namespace, CaseKeyring())


class CaseCipher:
    """Seals the events a process publishes and opens the ones it consumes."""

    def __init__(self, stack: StackSettings, keyring: CaseKeyring | None = None) -> None:
        self.keyring = keyring if keyring is not None else keyring_of(stack)
        self._keks = KeyEncryptionKeys.of(stack)
        self._opened: dict[tuple[str, str], bytes] = {}

    def learn_keys(self, events: Sequence[CloudEvent]) -> None:
        """Take in the new keys among events about to be published, before any event is
        sealed: a key and its case's first events go out in one batch, whatever their order.
        A destruction is taken in where it stands (`seal`): the events before it still go."""
        for event in events:
            if event.type == CASE_KEYS_TOPIC:
                key = payload_as(decode_payload(event), CaseKey)
                if key.wrapped_key is not None:
                    self.keyring.learn(key)

    async def seal(self, event: CloudEvent) -> CloudEvent | None:
        """The event as it goes on Kafka; None for an event of an erased case (never sent).

        A case with no key at all (opened before case keys existed) is sent in clear as
        before: its earlier events are in clear too."""
        if event.type == CASE_KEYS_TOPIC:
            # A key this process publishes is known to it at once, before the events after it.
            self.keyring.learn(payload_as(decode_payload(event), CaseKey))
            return event
        if event.type not in SEALED_TYPES or event.sealed:
            return event
        found = await self.keyring.find(event.subject)
        if found is DESTROYED:
            log.info("event of an erased case not published", extra={"event_id": event.id})
            return None
        if found is None:
            log.warning("case has no key; event published in clear", extra={"event_id": event.id})
            return event
        assert isinstance(found, CaseKey)
        return seal(event, self._data_key(found))

    async def open(self, event: CloudEvent) -> CloudEvent | None:
        """The event with its data in clear; None if the case's key was destroyed (erased)."""
        if not event.sealed:
            return event
        found = await self.keyring.find(event.subject, must_exist=True)
        if found is DESTROYED:
            return None
        if found is None:
            raise InvalidEvent("unknown_case_key", "no key is known for the event's case")
        assert isinstance(found, CaseKey)
        return open_sealed(event, self._data_key(found))

    def _data_key(self, key: CaseKey) -> bytes:
        cache_key = (key.case_id, key.wrapped_key or "")
        data_key = self._opened.get(cache_key)
        if data_key is None:
            data_key = self._opened[cache_key] = self._keks.unwrap(key)
        return data_key


class CaseKeyReader(TopicFollower):
    """Reads `case.keys` from the beginning, then follows it for as long as it runs; and, for
    a key asked for before the following consumer reached it, reads ahead (`refresh`)."""

    def __init__(
        self, stack: StackSettings, keyring: CaseKeyring | None = None, *, poll_ms: int = 200
    ) -> None:
        super().__init__(stack, CASE_KEYS_TOPIC, poll_ms=poll_ms)
        self.keyring = keyring if keyring is not None else keyring_of(stack)
        self._refresher: AIOKafkaConsumer | None = None
        self._refreshing = asyncio.Lock()

    def attach(self) -> None:
        """Be the keyring's way to look again for a key it does not know yet."""
        self.keyring.reader = self

    def loaded(self, read: int) -> None:
        log.info("case keys loaded", extra={"count": len(self.keyring)})

    async def refresh(self, case_id: str, *, within_s: float = 15) -> None:
        """Read what was published since the last refresh, up to the topic's current end, with
        a consumer of its own (the following one is busy), unless a refresh that ran meanwhile
        already brought the key."""
        async with self._refreshing:
            if self.keyring.lookup(case_id) is not None:
                return
            consumer = self._refresher
            try:
                first = consumer is None
                if consumer is None:
                    consumer = self._refresher = await self.start_consumer()
                await self.read_to_end(consumer, within_s=within_s, from_beginning=first)
            except BaseException:
                await self._stop_refresher()
                raise

    async def close(self) -> None:
        await super().close()
        await self._stop_refresher()

    async def _stop_refresher(self) -> None:
        consumer, self._refresher = self._refresher, None
        if consumer is not None:
            await consumer.stop()

    def apply(self, message: ConsumerRecord[bytes, bytes]) -> bool:
        if message.value is None:  # the tombstone: the case's key is destroyed
            if not message.key:
                return False
            self.keyring.destroy(message.key.decode(errors="replace"))
            return True
        try:
            key = payload_as(decode_payload(decode(message.value)), CaseKey)
        except (InvalidEvent, TypeError):
            log.warning("unreadable case key skipped", extra={"offset": message.offset})
            return False
        self.keyring.learn(key)
        return True


def _derive(secret: str) -> bytes:
    """A 256-bit key from the configured secret (HKDF-SHA256; the secret is already random)."""
    return HKDF(
        algorithm=hashes.SHA256(),
        length=DATA_KEY_BYTES,
        salt=None,
        info=b"second-opinion case-key-encryption-key v1",
    ).derive(secret.encode())


def _kek_id(kek: bytes) -> str:
    """Names a KEK without revealing it: a digest of the key, not of the secret."""
    return hashlib.sha256(b"kek-id:" + kek).hexdigest()[:16]


def _key_aad(case_id: str) -> bytes:
    return f"{CASE_KEYS_TOPIC}\n{case_id}".encode()


def _event_aad(event: CloudEvent) -> bytes:
    # The ciphertext belongs to this event: moved to another event, case or type it fails.
    return f"{CASE_KEY_V1}\n{event.type}\n{event.subject}\n{event.id}".encode()
