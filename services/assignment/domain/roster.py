"""The roster: experts, the multidisciplinary boards they sit on, and when they are away."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shared.contracts.common import LanguageTag, ShortText
from shared.contracts.expert_assigned import ExpertRef

# Every specialty a case can ask for, except "not-sure", which only triage can resolve.
ExpertSpecialty = Literal[
    "neuro-oncology", "neurosurgery", "oncology", "hematology", "cardiology", "genetics"
]
RosterId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DateRange(_Frozen):
    """Whole days, both ends included."""

    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end < self.start:
            raise ValueError("end must not be before start")
        return self

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    def overlaps(self, first: date, last: date) -> bool:
        return self.start <= last and first <= self.end


class ExpertProfile(_Frozen):
    """What an admin sends to create or replace an expert (the id is in the path)."""

    display_name: ShortText
    specialty: ExpertSpecialty
    discipline: ShortText | None = Field(
        default=None, description="e.g. neuroradiology, for members of a board"
    )
    other_specialties: list[ExpertSpecialty] = Field(default_factory=list, max_length=6)
    subspecialties: list[ShortText] = Field(
        default_factory=list, max_length=50, description="Diagnosis keywords, e.g. medulloblastoma"
    )
    languages: list[LanguageTag] = Field(default_factory=lambda: ["en"], min_length=1)
    institution: ShortText
    affiliations: list[ShortText] = Field(default_factory=list, max_length=20)
    capacity: int = Field(ge=0, le=100, description="Open cases at once (offers count too)")
    availability: list[DateRange] = Field(
        default_factory=list, description="If any, the expert takes cases only on these days"
    )
    leave: list[DateRange] = Field(default_factory=list)
    board_only: bool = Field(default=False, description="Reviews only as a member of a board")
    active: bool = True


class Expert(ExpertProfile):
    expert_id: RosterId

    def ref(self) -> ExpertRef:
        return ExpertRef(
            expert_id=self.expert_id, display_name=self.display_name, specialty=self.specialty
        )

    def specialty_fit(self, specialty: str) -> int:
        """2 for the primary specialty, 1 for a secondary one, 0 otherwise."""
        if specialty == self.specialty:
            return 2
        return 1 if specialty in self.other_specialties else 0

    def speaks(self, language: str) -> bool:
        wanted = primary_language(language)
        return any(primary_language(spoken) == wanted for spoken in self.languages)

    def is_affiliated_with(self, organization: str) -> bool:
        wanted = normalized_institution(organization)
        return any(
            normalized_institution(place) == wanted
            for place in (self.institution, *self.affiliations)
        )

    def unavailable_reason(self, first: date, last: date) -> str | None:
        """Why the expert cannot take a case offered on `first` and due on `last`, if so."""
        if not self.active:
            return "inactive"
        if self.availability and not any(w.contains(first) for w in self.availability):
            return "outside availability window"
        if any(leave.overlaps(first, last) for leave in self.leave):
            return "on leave before the due date"
        return None

    def diagnosis_fit(self, diagnosis: str) -> list[str]:
        return keywords_in(self.subspecialties, diagnosis)


class BoardProfile(_Frozen):
    """What an admin sends to create or replace a board (the id is in the path)."""

    name: ShortText
    specialty: ExpertSpecialty
    keywords: list[ShortText] = Field(
        default_factory=list, max_length=50, description="Diagnoses in the board's remit"
    )
    lead_expert_id: RosterId
    member_expert_ids: list[RosterId] = Field(min_length=1, max_length=20)
    active: bool = True


class Board(BoardProfile):
    board_id: RosterId

    def team_ids(self) -> list[str]:
        """The lead first, then the other members, each once."""
        team = [self.lead_expert_id]
        team.extend(m for m in self.member_expert_ids if m not in team)
        return team

    def diagnosis_fit(self, diagnosis: str) -> list[str]:
        return keywords_in(self.keywords, diagnosis)


def primary_language(tag: str) -> str:
    """`es-MX` and `es` are the same language for talking to a family."""
    return tag.split("-", 1)[0].casefold()


def normalized_institution(name: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", name.casefold()).split())


def keywords_in(keywords: list[str], text: str) -> list[str]:
    """The keywords that occur in `text` as whole words, ignoring case, in roster order."""
    folded = text.casefold()
    return [k for k in keywords if re.search(rf"(?<!\w){re.escape(k.casefold())}(?!\w)", folded)]
