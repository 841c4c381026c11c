"""Field types shared by several event payloads."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

CaseId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
# ISO 3166-1 alpha-2, upper case.
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
# BCP 47 language tag such as "en", "es" or "pt-BR".
LanguageTag = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
# An IANA time zone name such as "America/Mexico_City" (checked against the tz database by
# the producer).
TimeZoneName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_+/-]*$")
]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
]
# E.164-like: digits with an optional leading +, spaces and dashes allowed for readability.
Phone = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9][0-9 ()-]{5,24}$")
]

Specialty = Literal[
    "neuro-oncology",
    "neurosurgery",
    "oncology",
    "hematology",
    "cardiology",
    "genetics",
    "not-sure",
]
Urgency = Literal["routine", "urgent"]
NonNegative = Annotated[int, Field(ge=0)]


class Actor(BaseModel):
    """Who did something: an opaque subject id and a role, never a person's name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    role: Annotated[str, StringConstraints(min_length=1, max_length=50)]
