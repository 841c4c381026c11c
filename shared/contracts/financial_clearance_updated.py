"""`financial_clearance.updated`: in a program that requires it, a case waits for financial
clearance (self-pay, an insurer's pre-authorisation, or a waiver) before it is offered to an
expert. Intake publishes `required` (with the fee estimate) when the case is opened and
`cleared` when the intake team or the hospital's billing system marks it; assignment holds the
offer until `cleared`, notify emails the family and shows the wait on the board.

No card data ever: the platform handles no money. The reference number the hospital's billing
gave stays at intake; the event says only how the case was cleared."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from babel import UnknownLocaleError
from babel.numbers import format_currency
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.contracts.common import Actor, CaseId, NonNegative
from shared.envelope import Payload

# What a program bills for (seeds: written second opinions, video consults with the expert,
# pathology slide and imaging re-reads).
ServiceType = Literal[
    "written-second-opinion",
    "video-consult",
    "pathology-review",
    "imaging-review",
]
ClearanceState = Literal["required", "cleared"]
ClearanceMethod = Literal["self-pay", "insurance-preauthorization", "waived"]
# ISO 4217 alphabetic code, upper case.
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
FeeItemCode = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]


class FeeLine(BaseModel):
    """One line of an estimate, in the currency's minor units (cents): never a float."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    item: FeeItemCode = Field(description="What the line is for, e.g. expert-review.")
    amount_minor: NonNegative
    insurance_eligible: bool = Field(
        default=False, description="Insurance may cover this line (the insurer decides)."
    )


class FeeEstimate(BaseModel):
    """What the program expects to charge for a service: an estimate, not a bill."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    service: ServiceType
    currency: CurrencyCode
    lines: list[FeeLine] = Field(max_length=20)
    total_minor: NonNegative
    # The part of the total insurance may cover (sum of the eligible lines).
    insurance_may_cover_minor: NonNegative = 0


class FinancialClearanceUpdated(Payload):
    """A case's financial clearance was required or given. Ids, codes and amounts only."""

    event_type = "financial_clearance.updated"
    schema_version = 1

    case_id: CaseId
    state: ClearanceState
    method: ClearanceMethod | None = Field(default=None, description="Set once cleared.")
    estimate: FeeEstimate | None = None
    actor: Actor


# ISO 4217 currencies whose minor unit is not a hundredth.
MINOR_DIGITS = {"JPY": 0, "KRW": 0, "CLP": 0, "ISK": 0, "VND": 0, "BHD": 3, "KWD": 3, "JOD": 3}


def money(amount_minor: int, currency: str, language: str = "en") -> str:
    """An amount in minor units as a reader of `language` writes it ("$800.00", "800,00 US$",
    "800,00 $US"): exact (Decimal from integers), the currency always named."""
    digits = MINOR_DIGITS.get(currency, 2)
    amount = Decimal(amount_minor).scaleb(-digits)
    try:
        return format_currency(amount, currency, locale=language)
    except (UnknownLocaleError, ValueError):
        return f"{amount:,.{digits}f} {currency}"
