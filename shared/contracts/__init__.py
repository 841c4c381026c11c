"""The events that cross services, one frozen pydantic model per topic, and how to read them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import ValidationError

from shared.contracts.access_recorded import AccessRecorded
from shared.contracts.access_revoked import AccessRevoked
from shared.contracts.assignment_updated import AssignmentUpdated
from shared.contracts.case_erased import CaseErased
from shared.contracts.case_key import CaseKey
from shared.contracts.case_submitted import CaseSubmitted
from shared.contracts.case_updated import CaseUpdated
from shared.contracts.consult_updated import ConsultUpdated
from shared.contracts.expert_assigned import ExpertAssigned
from shared.contracts.financial_clearance_updated import FinancialClearanceUpdated
from shared.contracts.follow_up_updated import FollowUpUpdated
from shared.contracts.hospital_case_outcome import HospitalCaseOutcome
from shared.contracts.records_ready import RecordsReady
from shared.contracts.records_updated import RecordsRequested, RecordsUpdated
from shared.contracts.report_issued import ReportIssued
from shared.envelope import CloudEvent, InvalidEvent, Payload, describe_validation_error

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
P = TypeVar("P", bound=Payload)


@dataclass(frozen=True)
class Contract:
    """A topic's payload model and the upcasters that lift older versions to the current one."""

    model: type[Payload]
    # upcasters[n] turns a version-n payload into version n+1.
    upcasters: dict[int, Upcaster] = field(default_factory=dict)


CONTRACTS: dict[str, Contract] = {
    c.model.event_type: c
    for c in (
        Contract(CaseSubmitted),
        Contract(CaseUpdated),
        Contract(RecordsUpdated),
        Contract(RecordsRequested),
        Contract(RecordsReady),
        Contract(AssignmentUpdated),
        Contract(ExpertAssigned),
        Contract(ReportIssued),
        Contract(FollowUpUpdated),
        Contract(ConsultUpdated),
        Contract(FinancialClearanceUpdated),
        Contract(AccessRecorded),
        Contract(AccessRevoked),
        Contract(HospitalCaseOutcome),
        Contract(CaseErased),
        Contract(CaseKey),
    )
}

# The audit trail is not a case topic: services that follow cases do not consume it.
AUDIT_TOPIC = AccessRecorded.event_type
# Nor are link revocations: every service reads them without a group (shared/revocations.py).
REVOCATION_TOPIC = AccessRevoked.event_type
# Nor are the answers to hospitals, keyed by organization (read by the hospitals alone).
HOSPITAL_OUTCOME_TOPIC = HospitalCaseOutcome.event_type
# Nor are the cases' data keys: every service reads them without a group (shared/case_keys.py).
CASE_KEYS_TOPIC = CaseKey.event_type
CASE_TOPICS: tuple[str, ...] = tuple(
    t
    for t in CONTRACTS
    if t not in (AUDIT_TOPIC, REVOCATION_TOPIC, HOSPITAL_OUTCOME_TOPIC, CASE_KEYS_TOPIC)
)


def decode_payload(event: CloudEvent) -> Payload:
    """Validate an event's data against its topic's model, upcasting older versions first."""
    contract = CONTRACTS.get(event.type)
    if contract is None:
        # The type is not echoed: an unknown one may be any value the producer misplaced.
        raise InvalidEvent("unknown_type", "no contract for the event's type")
    version = event.schema_version
    current = contract.model.schema_version
    if version > current or version < 1:
        raise InvalidEvent("unsupported_version", f"{event.type} version {version} is not known")
    if event.sealed:
        # Never validated as empty data: a reader that forgot to open it must not go on.
        raise InvalidEvent("sealed", "the event's data is encrypted; open it with its case key")
    data = event.data
    for step in range(version, current):
        data = contract.upcasters[step](data)
    try:
        # A tolerant reader: fields a newer producer added (at any depth) are ignored, so an
        # additive change never dead-letters an event. The models stay strict for whoever
        # builds a payload, so a typo in our own code still fails loudly.
        payload = contract.model.model_validate(data, extra="ignore")
    except ValidationError as exc:
        raise InvalidEvent(
            "invalid_payload", describe_validation_error(exc, contract.model)
        ) from None
    case_id = getattr(payload, "case_id", None)
    if case_id is not None and case_id != event.subject:
        raise InvalidEvent("subject_mismatch", "subject must equal data.case_id")
    return payload


def payload_as(payload: Payload, model: type[P]) -> P:
    """Narrow a decoded payload to the model a handler expects."""
    if not isinstance(payload, model):
        raise TypeError(f"expected {model.__name__}, got {type(payload).__name__}")
    return payload


__all__ = [
    "AUDIT_TOPIC",
    "CASE_KEYS_TOPIC",
    "CASE_TOPICS",
    "CONTRACTS",
    "HOSPITAL_OUTCOME_TOPIC",
    "REVOCATION_TOPIC",
    "AccessRecorded",
    "AccessRevoked",
    "AssignmentUpdated",
    "CaseErased",
    "CaseKey",
    "CaseSubmitted",
    "CaseUpdated",
    "ConsultUpdated",
    "Contract",
    "ExpertAssigned",
    "FinancialClearanceUpdated",
    "FollowUpUpdated",
    "HospitalCaseOutcome",
    "RecordsReady",
    "RecordsRequested",
    "RecordsUpdated",
    "ReportIssued",
    "decode_payload",
    "payload_as",
]
