"""`case.erased`: the child's personal data is to be erased everywhere (issue 14).

Intake publishes it when the intake team approves the family's deletion request, or when a
closed case passes the program's retention period. Every service that keeps anything of the
case deletes the personal data it holds (store, object storage) and keeps at most a PHI-free
stub (ids, states, times, who did what). It carries ids and codes only, never a name.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime

from shared.contracts.common import Actor, CaseId
from shared.envelope import Payload

ErasureReason = Literal[
    "family-request",
    "consent-withdrawn",
    "retention-expired",
    "other",
]


class CaseErased(Payload):
    """The personal data of a case is erased at intake; every other service follows."""

    event_type = "case.erased"
    schema_version = 1

    case_id: CaseId
    erased_at: AwareDatetime
    reason: ErasureReason
    actor: Actor
