"""What intake answers a hospital system for each case it sent over Kafka (pure, no I/O).

One `hospital.case.outcome` per submission (the hospital's event id), keyed by organization:
accepted with the case id, or rejected with the field, a code and a sentence. Ids and codes
only: the sentence is the rule's own (DomainError messages never quote a value).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError

from shared.contracts import CaseSubmitted, HospitalCaseOutcome
from shared.envelope import CloudEvent, InvalidEvent, make_event

SOURCE = "/services/intake"
CASE_ID_TAKEN = "another sender's case already has this case id"
DUPLICATE_REQUEST = "this hospital request id was submitted before with another case id"


def _outcome(
    submission: CloudEvent, case: CaseSubmitted, organization: str, **decided: str | None
) -> HospitalCaseOutcome:
    return HospitalCaseOutcome.model_validate(
        {
            "organization_id": organization,
            "submission_id": submission.id,
            "submitted_case_id": case.case_id,
            "hospital_request_id": case.hospital_request_id,
            **decided,
        }
    )


def accepted(
    submission: CloudEvent, case: CaseSubmitted, organization: str, *, at: datetime
) -> CloudEvent:
    """The submission opened (or, resent, found) its case."""
    outcome = _outcome(
        submission, case, organization, outcome="accepted", accepted_case_id=case.case_id
    )
    return make_event(outcome, source=SOURCE, subject=organization, time=at)


def rejected(
    submission: CloudEvent,
    case: CaseSubmitted,
    organization: str,
    *,
    code: str,
    message: str,
    field: str | None,
    at: datetime,
    earlier_case_id: str | None = None,
) -> CloudEvent:
    """The submission opened no case: why, naming the field, never a value."""
    outcome = _outcome(
        submission,
        case,
        organization,
        outcome="rejected",
        code=code,
        message=message,
        field=field,
        earlier_case_id=earlier_case_id,
    )
    return make_event(outcome, source=SOURCE, subject=organization, time=at)


def unreadable(
    raw: bytes | None, invalid: InvalidEvent, *, partition: int, offset: int, at: datetime
) -> tuple[str, CloudEvent] | None:
    """The answer to a message that is not a valid case.submitted CloudEvent (it goes to the
    DLQ too), with the submission id it answers; None when it names no organization to answer
    (not even a `source`). Only what the message says about itself is read: its id, source,
    subject and the ids in `data`; the reason lists fields and rules, never values."""
    message = _json_object(raw)
    found = message.get("data")
    data: dict[str, Any] = found if isinstance(found, dict) else {}
    organization = _text(data.get("organization_id")) or _text(message.get("source"))
    if organization is None:
        return None
    submission_id = _text(message.get("id")) or f"offset/{partition}/{offset}"
    field = None
    if invalid.reason == "invalid_payload":
        first = invalid.detail.split(";", 1)[0]
        field = first.partition(":")[0].strip() or None
    try:
        outcome = HospitalCaseOutcome(
            organization_id=organization,
            submission_id=submission_id,
            submitted_case_id=_text(message.get("subject")) or _text(data.get("case_id")),
            hospital_request_id=_text(data.get("hospital_request_id")),
            outcome="rejected",
            code=invalid.reason,
            field=field,
            message=invalid.detail[:200],
        )
    except ValidationError:  # ids too long to repeat: the DLQ alone has it
        return None
    return submission_id, make_event(outcome, source=SOURCE, subject=organization, time=at)


def _json_object(raw: bytes | None) -> dict[str, Any]:
    try:
        found = orjson.loads(raw or b"")
    except orjson.JSONDecodeError:
        return {}
    return found if isinstance(found, dict) else {}


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
