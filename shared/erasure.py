"""Erased cases (issue 14): every service process reads `case.erased` from the beginning into
memory, as it reads link revocations (shared/revocations.py), and its consumer runner skips
any later event of an erased case (shared/consumer.py), so a redelivered or replayed
`case.submitted` never brings the child's personal data back into a store that erased it.

Each service also consumes `case.erased` in its own consumer group, and there erases what it
holds (services/<name>/erasure.py); this reader only keeps the set of erased case ids (ids,
no personal data) so that nothing comes back afterwards.
"""

from __future__ import annotations

import logging

from aiokafka import ConsumerRecord

from shared.contracts import CASE_TOPICS, CaseErased, decode_payload, payload_as
from shared.envelope import InvalidEvent, decode
from shared.settings import StackSettings
from shared.topic_follower import TopicFollower

log = logging.getLogger(__name__)

ERASURE_TOPIC = CaseErased.event_type
# The events a consumer skips once their case is erased: every case event but the erasure
# itself (the audit trail, `audit.access`, is not one: it keeps who did what, after too).
ERASABLE_TYPES = frozenset(CASE_TOPICS) - {ERASURE_TOPIC}


class ErasedCases:
    """The ids of the cases whose personal data was erased."""

    def __init__(self) -> None:
        self._ids: set[str] = set()

    def __contains__(self, case_id: object) -> bool:
        return case_id in self._ids

    def add(self, case_id: str) -> None:
        self._ids.add(case_id)

    def __len__(self) -> int:
        return len(self._ids)


# One per process: the consumer runner and the reader share it (the runtime starts the reader).
ERASED_CASES = ErasedCases()


class ErasureReader(TopicFollower):
    """Reads `case.erased` from the beginning, then follows it for as long as it runs."""

    def __init__(
        self, stack: StackSettings, erased: ErasedCases = ERASED_CASES, *, poll_ms: int = 200
    ) -> None:
        super().__init__(stack, ERASURE_TOPIC, poll_ms=poll_ms)
        self.erased = erased

    def loaded(self, read: int) -> None:
        log.info("erased cases loaded", extra={"count": len(self.erased)})

    def apply(self, message: ConsumerRecord[bytes, bytes]) -> bool:
        try:
            erased = payload_as(decode_payload(decode(message.value)), CaseErased)
        except (InvalidEvent, TypeError):
            # The consumer groups dead-letter it; this reader has nowhere to.
            log.warning("unreadable erasure skipped", extra={"offset": message.offset})
            return False
        self.erased.add(erased.case_id)
        return True
