"""What intake answers a hospital system for each case it sent over Kafka (pure, no I/O).

One `hospital.case.outcome` per submission (the hospital's event id), keyed by organization:
accepted with the case id, or rejected with the field, a code and a sentence. Ids and codes
only: the sentence is the rule's own (DomainError messages never quote a value).
"""

from __future__ import annotations

from datetime import datetime

from shared.contracts import CaseSubmitted, HospitalCaseOutcome
from shared.envelope import CloudEvent, make_event

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
