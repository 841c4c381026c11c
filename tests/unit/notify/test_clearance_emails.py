"""Financial clearance in notify: the family hears the estimate when clearance is needed and
again when it is done (in Spanish for this family), and the board says the case waits on it."""

from __future__ import annotations

from services.notify.domain import timeline
from services.notify.domain.recipients import messages_for
from services.notify.handlers import on_case_event
from shared.contracts import FinancialClearanceUpdated
from shared.contracts.common import Actor
from shared.contracts.financial_clearance_updated import FeeEstimate, FeeLine, money
from shared.envelope import CloudEvent, make_event
from tests.support import sample_event
from tests.unit.notify.events import change, fact, submitted
from tests.unit.notify.test_consult_emails import body_of, send_all
from tests.unit.notify.test_delivery_flow import delivery, setup

ESTIMATE = FeeEstimate(
    service="written-second-opinion",
    currency="USD",
    lines=[
        FeeLine(item="expert-review", amount_minor=75000, insurance_eligible=True),
        FeeLine(item="records-handling", amount_minor=5000),
    ],
    total_minor=80000,
    insurance_may_cover_minor=75000,
)


def clearance_event(state: str, **changes: object) -> CloudEvent:
    payload = FinancialClearanceUpdated(
        case_id="c1",
        state=state,  # type: ignore[arg-type]
        estimate=ESTIMATE,
        actor=Actor(subject="staff-1", role="intake-staff"),
        **changes,  # type: ignore[arg-type]
    )
    return make_event(payload, source="/intake", subject="c1")


def test_amounts_are_shown_exactly_from_minor_units_as_each_language_writes_them() -> None:
    assert money(80000, "USD") == "$800.00"
    assert money(123456789, "EUR") == "€1,234,567.89"
    assert money(5000, "JPY") == "¥5,000"
    assert money(1234, "KWD") == "KWD1.234"
    assert money(80000, "USD", "es") == "800,00\xa0US$"
    assert money(123456789, "EUR", "fr") == "1\u202f234\u202f567,89\xa0€"
    assert money(80000, "USD", "xx") == "800.00 USD"  # a language Babel does not know


async def test_the_family_gets_the_estimate_then_word_of_clearance_in_its_language() -> None:
    _, ctx, dispatcher, mailer, _ = setup()
    await on_case_event(delivery(sample_event("c1")), ctx=ctx)
    await send_all(dispatcher)
    mailer.sent.clear()  # the request-received email
    await on_case_event(delivery(clearance_event("required")), ctx=ctx)
    await send_all(dispatcher)
    ((to, required),) = mailer.sent
    assert to == "rosa.parent@example.org"
    assert "Costes" in str(required["Subject"])
    assert "800,00\xa0US$" in body_of(required) and "750,00\xa0US$" in body_of(required)

    mailer.sent.clear()
    cleared = clearance_event("cleared", method="insurance-preauthorization")
    await on_case_event(delivery(cleared), ctx=ctx)
    await send_all(dispatcher)
    ((_, done),) = mailer.sent
    assert "autorización previa de su seguro" in body_of(done)


def test_the_board_shows_a_ready_case_awaiting_clearance_until_cleared() -> None:
    required = fact("financial_clearance.updated", 1, state="required", method=None)
    ready = fact("records.ready", 5, documents=2, studies=0, identity="match")
    waiting = timeline.derive("case-1", [submitted(), required, ready])
    assert waiting.stage == "awaiting-expert"
    assert waiting.waiting_on.detail == timeline.AWAITING_CLEARANCE
    assert waiting.entries[1].title == "Awaiting financial clearance"
    cleared = fact("financial_clearance.updated", 9, state="cleared", method="waived")
    after = timeline.derive("case-1", [submitted(), required, ready, cleared])
    assert after.waiting_on.detail == "matching"
    assert after.financial_clearance == "cleared"
    offered = change(10, "offered", expert_id="ana", expert_name="Dr. Ana")
    assert (
        timeline.derive("case-1", [submitted(), required, ready, cleared, offered]).waiting_on.party
        == "expert"
    )
    assert messages_for(cleared)[0].template == "financial-clearance-cleared"
