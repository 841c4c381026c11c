"""Revoked case links: every service process reads `access.revoked` from the beginning into an
in-memory map (case id → the second before which its links are revoked), and the token check
(`shared/auth.py`) refuses a case link issued before that second.

No consumer group: each process reads the whole topic itself (one small event per revocation),
so every instance of every service knows every revocation. `shared/runtime.py` reads up to the
topic's end before the service answers any request, so a service that restarts never accepts a
link revoked while it was down.
"""

from __future__ import annotations

import logging
import math

from aiokafka import ConsumerRecord

from shared.contracts import REVOCATION_TOPIC, AccessRevoked, decode_payload, payload_as
from shared.envelope import InvalidEvent, decode
from shared.settings import StackSettings
from shared.topic_follower import TopicFollower

log = logging.getLogger(__name__)


class RevokedLinks:
    """Case id → the first second (`iat`) a link of that case may carry and still work."""

    def __init__(self) -> None:
        self._not_before: dict[str, int] = {}
        self._loaded = False

    @property
    def loaded(self) -> bool:
        return self._loaded

    def mark_loaded(self) -> None:
        self._loaded = True

    def not_before(self, case_id: str) -> int | None:
        return self._not_before.get(case_id)

    def apply(self, revoked: AccessRevoked) -> None:
        """Take in one revocation; a later one only ever moves the cut-off forward."""
        cutoff = math.ceil(revoked.not_before.timestamp())
        known = self._not_before.get(revoked.case_id)
        if known is None or cutoff > known:
            self._not_before[revoked.case_id] = cutoff

    def __len__(self) -> int:
        return len(self._not_before)


class RevocationReader(TopicFollower):
    """Reads the revocation topic from the beginning, then follows it for as long as it runs
    (after a crash the runtime runs it again: a cut-off only moves forward)."""

    def __init__(
        self, stack: StackSettings, revoked: RevokedLinks | None = None, *, poll_ms: int = 200
    ) -> None:
        super().__init__(stack, REVOCATION_TOPIC, poll_ms=poll_ms)
        self.revoked = revoked if revoked is not None else RevokedLinks()

    def loaded(self, read: int) -> None:
        self.revoked.mark_loaded()
        log.info("link revocations loaded", extra={"count": read, "cases": len(self.revoked)})

    def apply(self, message: ConsumerRecord[bytes, bytes]) -> bool:
        try:
            self.revoked.apply(payload_as(decode_payload(decode(message.value)), AccessRevoked))
        except (InvalidEvent, TypeError):
            # Nothing to dead-letter to without a group; intake only publishes valid ones.
            log.warning("unreadable revocation skipped", extra={"offset": message.offset})
            return False
        return True
