"""`report.issued`: a signed second-opinion report (or an amendment) is ready to fetch."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.contracts.common import CaseId, LanguageTag, NonNegative, Sha256Hex, ShortText
from shared.envelope import Payload


class StoredObject(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    bucket: ShortText
    key: ShortText
    sha256: Sha256Hex
    size_bytes: NonNegative
    content_type: ShortText


class ReportRendition(BaseModel):
    """The same report version in another language."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    language: LanguageTag
    html: StoredObject
    pdf: StoredObject


class ReportIssued(Payload):
    """A signed report version is stored and ready for the family and the physician."""

    event_type = "report.issued"
    schema_version = 1

    case_id: CaseId
    report_id: ShortText
    version: int = Field(ge=1)
    amends_version: int | None = Field(default=None, ge=1)
    change_summary: str | None = None
    concordance: Literal["confirmed", "refined", "changed"]
    treatment_change: Literal["none", "modified", "changed"]
    language: LanguageTag
    html: StoredObject
    pdf: StoredObject
    recipients: list[Literal["guardian", "referring-physician"]] = Field(min_length=1)
    issued_at: AwareDatetime
    renditions: list[ReportRendition] = Field(
        default_factory=list,
        description="The same version in the other recipients' languages (the referring "
        "physician's, when it differs from the family's); `language`, `html` and `pdf` are "
        "the family's.",
    )
