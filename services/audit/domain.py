"""Audit records as FHIR R4 AuditEvent resources (the shape IHE BALP profiles). Pure."""

from __future__ import annotations

from typing import Any

from shared.contracts.access_recorded import AccessRecorded

OUTCOME_CODE = {"allowed": "0", "failed": "4", "denied": "8"}  # success, minor, serious failure
ACTION_DISPLAY = {"C": "create", "R": "read", "U": "update", "D": "delete", "E": "execute"}
DICOM_AUDIT = "http://dicom.nema.org/resources/ontology/DCM"


def as_fhir_audit_event(event_id: str, record: AccessRecorded) -> dict[str, Any]:
    """One AuditEvent: the REST interaction, its outcome, the agent and the case touched."""
    agent: dict[str, Any] = {
        "type": {"text": record.agent.role},
        "who": {"identifier": {"value": record.agent.subject}},
        "requestor": True,
    }
    if record.agent.organization:
        agent["who"]["display"] = f"organization {record.agent.organization}"
    if record.agent.network_address:
        agent["network"] = {"address": record.agent.network_address, "type": "2"}
    entities: list[dict[str, Any]] = []
    if record.case_id:
        entities.append(
            {"what": {"identifier": {"value": record.case_id}}, "type": {"code": "case"}}
        )
    entities.extend(
        {"what": {"identifier": {"value": value}}, "type": {"code": name}}
        for name, value in sorted(record.entities.items())
    )
    return {
        "resourceType": "AuditEvent",
        "id": event_id,
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
            "display": "RESTful Operation",
        },
        "subtype": [{"code": ACTION_DISPLAY[record.action]}],
        "action": record.action,
        "recorded": record.recorded_at.isoformat(),
        "outcome": OUTCOME_CODE[record.outcome],
        "outcomeDesc": f"HTTP {record.status_code}",
        "agent": [agent],
        "source": {
            "observer": {"display": f"second-opinion {record.service} service"},
            "type": [{"system": DICOM_AUDIT, "code": "110150", "display": "Application"}],
        },
        "entity": entities,
        "extension": [
            {"url": "urn:second-opinion:route", "valueString": f"{record.method} {record.route}"}
        ],
    }
