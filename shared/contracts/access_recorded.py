"""`audit.access`: one read or change of a case's data was allowed or refused.

Shaped after the FHIR AuditEvent resource as IHE Basic Audit Log Patterns (BALP) use it: an
action code (C/R/U/D/E), an outcome, the agent (who, in which role, for which organization,
from which network address) and the entities touched (the case and the record). It carries ids
only: never a name, a birth date, an email address or a phone number.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from shared.contracts.common import ShortText
from shared.envelope import Payload

AuditAction = Literal["C", "R", "U", "D", "E"]
AuditOutcome = Literal["allowed", "denied", "failed"]
# Route parameters name what was touched: document_id, study, report_id ...
EntityId = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class AuditAgent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: ShortText = Field(description="The token's subject, or 'anonymous'.")
    role: ShortText
    organization: ShortText | None = None
    token_id: ShortText | None = None
    network_address: ShortText | None = None


class AccessRecorded(Payload):
    """A request to a service that touched (or tried to touch) a case's data."""

    event_type = "audit.access"
    schema_version = 1

    # Not every audited request names a case (a list of cases, say); the key is then "no-case".
    case_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")] | None = None
    service: ShortText
    action: AuditAction
    outcome: AuditOutcome
    status_code: int = Field(ge=100, le=599)
    method: ShortText
    route: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    entities: dict[ShortText, EntityId] = Field(default_factory=dict)
    agent: AuditAgent
    recorded_at: AwareDatetime
