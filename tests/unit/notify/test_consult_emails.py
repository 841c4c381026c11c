"""A confirmed video consult through the handler and the dispatcher over fakes: the family
(Spanish, Mexico City), the physician, the expert (Madrid) and the intake team each get the time
in their own zone and the same calendar invitation; a cancellation withdraws it."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage

from services.notify.dispatcher import Dispatcher
from services.notify.handlers import on_case_event
from shared.contracts import ConsultUpdated
from shared.contracts.common import Actor
from shared.contracts.consult_updated import ConsultSlot
from shared.envelope import make_event
from tests.support import sample_event
from tests.unit.notify.test_delivery_flow import delivery, run_all, setup
from tests.unit.notify.test_invitations import unfolded

START = datetime(2027, 1, 14, 16, 0, tzinfo=UTC)
SLOT = ConsultSlot(start=START, minutes=45)


def consult_event(change: str, **changes: object) -> object:
    payload = ConsultUpdated(
        case_id="c1",
        consult_id="k1",
        change=change,  # type: ignore[arg-type]
        kind="video",
        requested_by_role="guardian",
        attendees="both",
        requester_time_zone="America/Mexico_City",
        expert_id="ana",
        expert_time_zone="Europe/Madrid",
        confirmed_slot=SLOT,
        meeting_url="https://meet.example.org/k1",
        actor=Actor(subject="guardian-link:c1", role="guardian"),
        **changes,  # type: ignore[arg-type]
    )
    return make_event(payload, source="/intake", subject="c1")


def calendar_of(message: EmailMessage) -> str:
    (part,) = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    content = part.get_content()
    assert isinstance(content, str)
    return content


async def send_all(dispatcher: Dispatcher) -> None:
    # Two tries at a time go to the mail relay (DispatchPolicy.per_target).
    for _ in range(3):
        await run_all(dispatcher)


def body_of(message: EmailMessage) -> str:
    (part,) = [p for p in message.walk() if p.get_content_type() == "text/plain"]
    content = part.get_content()
    assert isinstance(content, str)
    return content


async def test_a_confirmed_consult_invites_everyone_in_their_own_time_zone() -> None:
    fake, ctx, dispatcher, mailer, _ = setup()
    fake.experts["ana"] = {"email": "ana@experts.test", "language": "en"}
    await on_case_event(delivery(sample_event("c1")), ctx=ctx)
    await send_all(dispatcher)
    mailer.sent.clear()  # the request-received email
    await on_case_event(delivery(consult_event("confirmed")), ctx=ctx)  # type: ignore[arg-type]
    await send_all(dispatcher)
    sent = {to: message for to, message in mailer.sent}
    family, expert = sent["rosa.parent@example.org"], sent["ana@experts.test"]
    # January: Mexico City is UTC-6, Madrid UTC+1.
    assert "10:00-10:45 (America/Mexico_City, UTC-06:00)" in body_of(family)
    assert "Consulta por video" in str(family["Subject"])
    assert "17:00-17:45 (Europe/Madrid, UTC+01:00)" in body_of(expert)
    assert "https://meet.example.org/k1" in body_of(expert)
    assert "16:00-16:45 UTC" in body_of(sent["staff@x.test"])
    assert set(sent) == {
        "rosa.parent@example.org",
        "lee@valley.example.org",
        "ana@experts.test",
        "staff@x.test",
    }
    uids = set()
    for to, message in mailer.sent:
        props = unfolded(calendar_of(message))
        assert props["METHOD"] == ["REQUEST"]
        assert props["DTSTART"] == [f"{START:%Y%m%d}T160000Z"]
        assert props["ATTENDEE"] == [f"mailto:{to}"]
        assert props["ORGANIZER"] == ["mailto:staff@x.test"]
        uids.add(props["UID"][0])
    assert uids == {"consult-k1@second-opinion"}

    mailer.sent.clear()
    cancelled = consult_event("cancelled", sequence=1, cancel_reason="expert-unavailable")
    await on_case_event(delivery(cancelled), ctx=ctx)  # type: ignore[arg-type]
    await send_all(dispatcher)
    assert len(mailer.sent) == 4
    for _, message in mailer.sent:
        props = unfolded(calendar_of(message))
        assert (props["METHOD"], props["SEQUENCE"]) == (["CANCEL"], ["1"])
        assert props["UID"] == ["consult-k1@second-opinion"]
