"""`case.keys`: each case's data key, wrapped with the platform's key-encryption key (issue 14).

Intake makes a fresh AES-256 key when it opens a case and publishes it here, in the same unit
of work as `case.submitted` and before it; the personal data of the case's events on Kafka is
encrypted with it (shared/case_keys.py). The topic is compacted and keyed by case id: when the
case is erased intake publishes the key's tombstone (a record with no value), so compaction
removes the key from the log and every event of the case on every topic becomes unreadable
(crypto-shredding). A key event carries ids and the wrapped key only, never personal data.
"""

from __future__ import annotations

from pydantic import Field

from shared.contracts.common import CaseId
from shared.envelope import Payload


class CaseKey(Payload):
    """The case's data key, encrypted with the key-encryption key named by `kek_id`; no
    `wrapped_key` means the key is destroyed (sent on Kafka as the key's tombstone)."""

    event_type = "case.keys"
    schema_version = 1

    case_id: CaseId
    # Which key-encryption key wrapped it (a digest of the key, not the key): the one in use,
    # or one kept for unwrapping while keys are re-wrapped after a rotation.
    kek_id: str | None = Field(default=None, max_length=64)
    # base64 of nonce (12 bytes) + AES-256-GCM ciphertext of the 32-byte key + tag.
    wrapped_key: str | None = Field(default=None, max_length=200)
