"""`records.ready`: every required record for a case is present (or waived by staff)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.common import CaseId, NonNegative, Sha256Hex, ShortText
from shared.envelope import Payload


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Document(_Part):
    document_id: ShortText
    kind: ShortText = Field(description="Checklist item, e.g. pathology-report or mri-imaging.")
    filename: ShortText
    content_type: ShortText
    size_bytes: NonNegative
    sha256: Sha256Hex
    object_key: ShortText


class ImagingStudy(_Part):
    study_instance_uid: ShortText
    modalities: list[ShortText]
    description: str | None = None
    study_date: date | None = None
    series_count: NonNegative
    instance_count: NonNegative
    size_bytes: NonNegative


class Waiver(_Part):
    item: ShortText
    reason: ShortText
    waived_by: ShortText


class Completeness(_Part):
    required: list[ShortText]
    present: list[ShortText]
    waived: list[Waiver] = []


class IdentityCheck(_Part):
    status: Literal["match", "mismatch", "not-checked"]
    findings: list[ShortText] = Field(
        default=[], description="Which identifiers disagreed (names of fields, never values)."
    )


class RecordsReady(Payload):
    """Every required record of a case is present or waived; the manifest says what there is."""

    event_type = "records.ready"
    schema_version = 1

    case_id: CaseId
    documents: list[Document]
    studies: list[ImagingStudy]
    completeness: Completeness
    identity_check: IdentityCheck
