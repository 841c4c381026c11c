"""Fees and financial clearance: the program's fee schedule, the estimate a family sees before
submitting, and the clearance the intake team (or the hospital's billing system) marks before
the case goes to an expert. No I/O, no money: the platform never takes a payment or a card.

Amounts are integers in the currency's minor units (cents), so a total is exact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import AwareDatetime, BaseModel, ConfigDict

from services.intake.errors import DomainError
from shared.contracts.common import Actor, NonNegative
from shared.contracts.financial_clearance_updated import (
    ClearanceMethod,
    ClearanceState,
    CurrencyCode,
    FeeEstimate,
    FeeItemCode,
    FeeLine,
    FinancialClearanceUpdated,
    ServiceType,
)

if TYPE_CHECKING:
    from services.intake.domain import CaseRecord

DEFAULT_SERVICE: ServiceType = "written-second-opinion"
# A payment card number (PAN) has 12 to 19 digits, often written in groups.
_CARD_LIKE = re.compile(r"(?<!\d)\d(?:[ -]?\d){11,18}(?!\d)")
ESTIMATE_NOTE = (
    "This is an estimate, not a bill: the hospital's billing office confirms the amount and "
    "whether your insurance covers it before an expert starts. Nothing is paid on this site."
)


class FeeItem(BaseModel):
    """One line of the program's fee schedule (INTAKE_FEE_SCHEDULE)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    service: ServiceType
    currency: CurrencyCode
    item: FeeItemCode
    amount_minor: NonNegative
    insurance_eligible: bool = False


class Clearance(BaseModel):
    """A case's financial clearance as intake keeps it (inside the case's record)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state: ClearanceState
    estimate: FeeEstimate | None = None
    method: ClearanceMethod | None = None
    # The billing office's or insurer's reference (never a card number: see check_free_text).
    reference: str | None = None
    payer: str | None = None
    note: str | None = None
    cleared_by: Actor | None = None
    cleared_at: AwareDatetime | None = None


@dataclass(frozen=True)
class ClearanceMark:
    method: ClearanceMethod
    reference: str | None = None
    payer: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Cleared:
    """The case after clearance, and its `financial_clearance.updated`."""

    record: CaseRecord
    event: FinancialClearanceUpdated


def estimate(schedule: tuple[FeeItem, ...], service: ServiceType, currency: str) -> FeeEstimate:
    """The schedule's lines for this service in this currency, and their total."""
    lines = [
        FeeLine(item=i.item, amount_minor=i.amount_minor, insurance_eligible=i.insurance_eligible)
        for i in schedule
        if i.service == service and i.currency == currency
    ]
    if not lines:
        offered = sorted({i.currency for i in schedule if i.service == service})
        if not offered:
            raise DomainError(
                "service_not_offered", f"the program does not offer {service}", "service"
            )
        raise DomainError(
            "currency_not_offered",
            f"{service} is priced in {', '.join(offered)}, not {currency}",
            "currency",
        )
    return FeeEstimate(
        service=service,
        currency=currency,
        lines=lines,
        total_minor=sum(line.amount_minor for line in lines),
        insurance_may_cover_minor=sum(x.amount_minor for x in lines if x.insurance_eligible),
    )


def required_clearance(
    schedule: tuple[FeeItem, ...], service: ServiceType, currency: str
) -> Clearance:
    """A new case in a program that requires clearance: it waits, with its estimate if the
    schedule prices the service (a program may require clearance of unpriced services too)."""
    try:
        found: FeeEstimate | None = estimate(schedule, service, currency)
    except DomainError:
        found = None
    return Clearance(state="required", estimate=found)


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def looks_like_card_number(text: str) -> bool:
    """A run of 12 to 19 digits (spaces or dashes between them) that passes the Luhn check."""
    for match in _CARD_LIKE.finditer(text):
        if luhn_valid(re.sub(r"[ -]", "", match.group())):
            return True
    return False


def check_free_text(value: str | None, field: str) -> None:
    """Refuse what looks like a payment card number: the platform must never hold one."""
    if value is not None and looks_like_card_number(value):
        raise DomainError(
            "card_number_refused",
            "this looks like a payment card number, which the platform must not hold; "
            "give the billing office's or the insurer's reference instead",
            field,
        )


def mark_cleared(record: CaseRecord, mark: ClearanceMark, *, actor: Actor, at: datetime) -> Cleared:
    """The intake team or the hospital's billing system clears the case for review."""
    if record.status == "cancelled":
        raise DomainError("case_closed", "the case is cancelled")
    current = record.clearance
    if current is None:
        raise DomainError(
            "clearance_not_required", "this case does not wait on financial clearance"
        )
    if current.state == "cleared":
        raise DomainError("unchanged", "the case is already cleared", "method")
    for value, field in ((mark.reference, "reference"), (mark.payer, "payer"), (mark.note, "note")):
        check_free_text(value, field)
    if mark.method != "waived" and not mark.reference:
        raise DomainError(
            "reference_required",
            f"{mark.method} needs the billing office's or the insurer's reference number",
            "reference",
        )
    cleared = current.model_copy(
        update={
            "state": "cleared",
            "method": mark.method,
            "reference": mark.reference,
            "payer": mark.payer,
            "note": mark.note,
            "cleared_by": actor,
            "cleared_at": at,
        }
    )
    event = FinancialClearanceUpdated(
        case_id=record.case_id,
        state="cleared",
        method=mark.method,
        estimate=current.estimate,
        actor=actor,
    )
    return Cleared(record.model_copy(update={"clearance": cleared}), event)
