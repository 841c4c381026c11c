"""Fees and financial clearance, the pure rules: estimate maths in minor units, the card-number
refusal (Luhn), and who may clear what when."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.intake import fees
from services.intake.config import DEMO_FEE_SCHEDULE
from services.intake.domain import CaseRecord, DomainError
from services.intake.fees import ClearanceMark, FeeItem
from shared.contracts.common import Actor
from tests.support import sample_case

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)
STAFF = Actor(subject="staff-1", role="intake-staff")
SCHEDULE = (
    FeeItem(service="pathology-review", currency="USD", item="slides", amount_minor=60001),
    FeeItem(
        service="pathology-review",
        currency="USD",
        item="review",
        amount_minor=10,
        insurance_eligible=True,
    ),
    FeeItem(service="pathology-review", currency="EUR", item="review", amount_minor=500),
)


def a_case(clearance: fees.Clearance | None) -> CaseRecord:
    return CaseRecord.new(sample_case("case-1"), at=AT, clearance=clearance)


def test_an_estimate_adds_the_lines_of_the_service_in_the_currency_exactly() -> None:
    found = fees.estimate(SCHEDULE, "pathology-review", "USD")
    assert [line.item for line in found.lines] == ["slides", "review"]
    assert found.total_minor == 60011
    assert found.insurance_may_cover_minor == 10
    assert fees.estimate(SCHEDULE, "pathology-review", "EUR").total_minor == 500


def test_an_unpriced_service_or_currency_is_refused_naming_the_field() -> None:
    with pytest.raises(DomainError) as no_service:
        fees.estimate(SCHEDULE, "video-consult", "USD")
    assert (no_service.value.code, no_service.value.field) == ("service_not_offered", "service")
    with pytest.raises(DomainError) as no_currency:
        fees.estimate(SCHEDULE, "pathology-review", "MXN")
    assert no_currency.value.code == "currency_not_offered"
    assert "EUR, USD" in no_currency.value.message


def test_the_demo_schedule_prices_a_written_opinion() -> None:
    found = fees.estimate(DEMO_FEE_SCHEDULE, "written-second-opinion", "USD")
    assert found.total_minor == 80000
    assert found.insurance_may_cover_minor == 75000


def test_a_required_clearance_of_an_unpriced_service_has_no_estimate() -> None:
    assert fees.required_clearance(SCHEDULE, "video-consult", "USD").estimate is None
    priced = fees.required_clearance(SCHEDULE, "pathology-review", "USD")
    assert priced.state == "required" and priced.estimate is not None


@pytest.mark.parametrize(
    "text",
    [
        "4111111111111111",
        "4111 1111 1111 1111",
        "card 5500-0000-0000-0004 thanks",
        "378282246310005",
    ],
)
def test_card_numbers_are_recognised(text: str) -> None:
    assert fees.looks_like_card_number(text)


@pytest.mark.parametrize(
    "text", ["PA-2026-000123", "4111111111111112", "12345", "claim 2026 03 01", "AUTH 998877"]
)
def test_references_that_are_not_card_numbers_pass(text: str) -> None:
    assert not fees.looks_like_card_number(text)


def test_clearing_records_how_and_publishes_it_without_the_reference() -> None:
    case = a_case(fees.required_clearance(SCHEDULE, "pathology-review", "USD"))
    mark = ClearanceMark(method="insurance-preauthorization", reference="PA-77", payer="Acme")
    cleared = fees.mark_cleared(case, mark, actor=STAFF, at=AT)
    clearance = cleared.record.clearance
    assert clearance is not None
    assert (clearance.state, clearance.reference, clearance.cleared_by) == (
        "cleared",
        "PA-77",
        STAFF,
    )
    assert cleared.event.state == "cleared"
    assert cleared.event.method == "insurance-preauthorization"
    assert "PA-77" not in cleared.event.model_dump_json()


def test_a_card_number_as_reference_or_note_is_refused() -> None:
    case = a_case(fees.Clearance(state="required"))
    for mark, field in (
        (ClearanceMark(method="self-pay", reference="4111-1111-1111-1111"), "reference"),
        (ClearanceMark(method="waived", note="paid with 4111111111111111"), "note"),
    ):
        with pytest.raises(DomainError) as refused:
            fees.mark_cleared(case, mark, actor=STAFF, at=AT)
        assert (refused.value.code, refused.value.field) == ("card_number_refused", field)


def test_only_a_waiver_needs_no_reference() -> None:
    case = a_case(fees.Clearance(state="required"))
    with pytest.raises(DomainError) as refused:
        fees.mark_cleared(case, ClearanceMark(method="self-pay"), actor=STAFF, at=AT)
    assert refused.value.code == "reference_required"
    waived = fees.mark_cleared(case, ClearanceMark(method="waived"), actor=STAFF, at=AT)
    assert waived.event.method == "waived"


def test_clearance_only_once_only_where_required_and_not_on_a_cancelled_case() -> None:
    waive = ClearanceMark(method="waived")
    with pytest.raises(DomainError) as not_required:
        fees.mark_cleared(a_case(None), waive, actor=STAFF, at=AT)
    assert not_required.value.code == "clearance_not_required"
    cleared = fees.mark_cleared(a_case(fees.Clearance(state="required")), waive, actor=STAFF, at=AT)
    with pytest.raises(DomainError) as again:
        fees.mark_cleared(cleared.record, waive, actor=STAFF, at=AT)
    assert again.value.code == "unchanged"
    cancelled = a_case(fees.Clearance(state="required")).model_copy(update={"status": "cancelled"})
    with pytest.raises(DomainError) as closed:
        fees.mark_cleared(cancelled, waive, actor=STAFF, at=AT)
    assert closed.value.code == "case_closed"
