"""The consent texts a family signs, per version and language, and the signature record.

A consent is a document, not a checkbox: the exact text shown is served here (`GET /consent`),
its SHA-256 is what the signature record keeps, and a form that signed a text which is not
the one this service serves for that version and language is refused. Texts live in
`consent_texts/<version>.<language>.txt`; a new version is a new set of files plus its name
in `INTAKE_CONSENT_VERSIONS` (the last one listed is the one new forms show), and every
listed version needs an English text. Pure: no I/O after `ConsentLibrary.load`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from services.intake.errors import DomainError

TEXTS = Path(__file__).with_name("consent_texts")
FALLBACK_LANGUAGE = "en"
SignedThrough = Literal["form", "fhir", "hospital-system"]
# Browsers send long User-Agent strings; the record keeps enough to tell devices apart.
MAX_USER_AGENT = 200


@dataclass(frozen=True)
class ConsentDocument:
    version: str
    language: str
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


class ConsentLibrary:
    """Every consent text this service shows, by version and language."""

    def __init__(self, documents: list[ConsentDocument], versions: list[str]) -> None:
        self._documents = {(d.version, d.language): d for d in documents}
        self.versions = tuple(versions)
        missing = [v for v in versions if (v, FALLBACK_LANGUAGE) not in self._documents]
        if missing:
            raise ValueError(
                f"no English consent text for version(s) {', '.join(missing)}: add "
                f"consent_texts/<version>.{FALLBACK_LANGUAGE}.txt or remove them from "
                "INTAKE_CONSENT_VERSIONS"
            )

    @classmethod
    def load(cls, versions: list[str], folder: Path = TEXTS) -> ConsentLibrary:
        documents = []
        for path in sorted(folder.glob("*.txt")):
            version, _, language = path.stem.rpartition(".")
            if version in versions:
                text = path.read_text(encoding="utf-8").replace("\r\n", "\n").strip()
                documents.append(ConsentDocument(version, language, text))
        return cls(documents, versions)

    @property
    def current_version(self) -> str:
        return self.versions[-1]

    def languages(self, version: str) -> list[str]:
        return sorted(lang for v, lang in self._documents if v == version)

    def document(self, version: str, language: str | None) -> ConsentDocument:
        """The text of `version` in `language` (a BCP 47 tag: `fr-CA` finds `fr`), else English."""
        if version not in self.versions:
            raise DomainError("unknown_consent_version", "no consent text has this version")
        for candidate in _candidates(language):
            found = self._documents.get((version, candidate))
            if found is not None:
                return found
        return self._documents[(version, FALLBACK_LANGUAGE)]

    def signed(
        self, version: str, language: str | None, claimed_sha256: str | None
    ) -> ConsentDocument:
        """The document a signer saw; a form that says which text it showed must match it."""
        document = self.document(version, language)
        if claimed_sha256 is not None and claimed_sha256 != document.sha256:
            raise DomainError(
                "consent_text_changed",
                "the consent text signed is not the text of this version: read it again",
                "consent.text_sha256",
            )
        return document


def _candidates(language: str | None) -> list[str]:
    if not language:
        return []
    tag = language.lower()
    return [tag, tag.split("-")[0]]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ConsentWithdrawal(_Record):
    at: AwareDatetime
    by_role: str
    ip: str | None = None


class ConsentSignature(_Record):
    """Who agreed to which exact text, when, and from where: kept by intake only (the
    address is personal data, so it is in no event, log or other service)."""

    signed_by: str
    signed_at: AwareDatetime
    text_version: str
    language: str
    text_sha256: str
    through: SignedThrough
    ip: str | None = None
    user_agent: str | None = None
    withdrawn: ConsentWithdrawal | None = None


def signature(
    document: ConsentDocument,
    *,
    signed_by: str,
    signed_at: AwareDatetime,
    through: SignedThrough,
    ip: str | None = None,
    user_agent: str | None = None,
) -> ConsentSignature:
    return ConsentSignature(
        signed_by=signed_by,
        signed_at=signed_at,
        text_version=document.version,
        language=document.language,
        text_sha256=document.sha256,
        through=through,
        ip=ip,
        user_agent=user_agent[:MAX_USER_AGENT] if user_agent else None,
    )
