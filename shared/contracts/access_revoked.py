"""`access.revoked`: every case link of a case issued before a moment stops working.

Intake publishes it when the intake team, or the family or physician holding a link, revokes
the links of a case; every service reads the topic from the beginning and refuses a case link
(role guardian or referring-physician) whose `iat` is before `not_before`. It carries ids and
codes only: never a name, an address or free text.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from shared.contracts.common import Actor, CaseId
from shared.envelope import Payload

RevocationReason = Literal[
    "lost-or-shared",
    "sent-to-wrong-person",
    "family-request",
    "guardianship-changed",
    "other",
]


class AccessRevoked(Payload):
    """The case links of a case issued before `not_before` are revoked."""

    event_type = "access.revoked"
    schema_version = 1

    case_id: CaseId
    not_before: AwareDatetime = Field(
        description="Links of this case whose `iat` is earlier than this are refused (a whole "
        "second: links count time in whole seconds)."
    )
    reason: RevocationReason
    actor: Actor
