"""The consult rules after the report: asked for by the family or the physician, times proposed
by the intake team, one chosen, rescheduled or cancelled; each step one `consult.updated`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from services.intake import consults
from services.intake.consults import ConsultAsk, Proposal
from services.intake.domain import CaseRecord, DomainError
from shared.contracts.common import Actor
from shared.contracts.consult_updated import ConsultSlot
from tests.support import sample_case

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
FAMILY = Actor(subject="guardian-link:case-1", role="guardian")
STAFF = Actor(subject="staff-1", role="intake-staff")
ASK = ConsultAsk(
    kind="video",
    attendees="both",
    preferred_times="Weekday mornings, Mexico City time",
    interpreter_needed=True,
    interpreter_language="es",
    time_zone="America/Mexico_City",
)


def slot(days: int, hour: int = 16, minutes: int = 45) -> ConsultSlot:
    return ConsultSlot(start=NOW + timedelta(days=days, hours=hour - 12), minutes=minutes)


PROPOSAL = Proposal(
    slots=(slot(3), slot(4)),
    expert_id="ana",
    expert_time_zone="Europe/Madrid",
    meeting_url="https://meet.example.org/consult-abc",
)


def record() -> CaseRecord:
    return CaseRecord.new(sample_case("case-1"), at=NOW - timedelta(days=30))


def refused(call: Callable[[], object]) -> str:
    with pytest.raises(DomainError) as refusal:
        call()
    return refusal.value.code


def asked() -> consults.Step:
    return consults.request(
        record(), consult_id="c1", ask=ASK, actor=FAMILY, report_issued=True, at=NOW
    )


def test_a_family_asks_for_a_video_consult_after_the_report() -> None:
    step = asked()
    (consult,) = step.record.consults
    assert (consult.state, consult.kind, consult.attendees) == ("requested", "video", "both")
    event = step.event
    assert (event.change, event.consult_id, event.requested_by_role) == (
        "requested",
        "c1",
        "guardian",
    )
    assert (event.interpreter_needed, event.interpreter_language) == (True, "es")
    assert event.requester_time_zone == "America/Mexico_City"
    # The family's own words stay at intake.
    assert "mornings" not in event.model_dump_json()


def test_a_consult_waits_for_the_report() -> None:
    ask = consults.request
    before = partial(
        ask,
        record(),
        consult_id="c1",
        ask=ASK,
        actor=FAMILY,
        report_issued=False,
        at=NOW,
    )
    assert refused(before) == "report_not_issued"


def test_asking_checks_the_time_zone_and_the_interpreter_language() -> None:
    bad_zone = ConsultAsk(kind="video", attendees="family", time_zone="Mars/Olympus")
    no_language = ConsultAsk(kind="in-person", attendees="family", interpreter_needed=True)
    for ask in (bad_zone, no_language):
        codes = refused(
            lambda ask=ask: consults.request(
                record(), consult_id="c1", ask=ask, actor=FAMILY, report_issued=True, at=NOW
            )
        )
        assert codes in ("unknown_time_zone", "interpreter_language_required")


def test_one_open_consult_at_a_time() -> None:
    first = asked().record
    again = partial(
        consults.request,
        first,
        consult_id="c2",
        ask=ASK,
        actor=FAMILY,
        report_issued=True,
        at=NOW,
    )
    assert refused(again) == "consult_open"


def test_staff_propose_times_the_requester_confirms_one() -> None:
    proposed = consults.propose(asked().record, "c1", PROPOSAL, actor=STAFF, at=NOW)
    assert proposed.event.change == "proposed"
    assert proposed.event.slots == [slot(3), slot(4)]
    assert proposed.event.expert_id == "ana" and proposed.event.expert_time_zone == "Europe/Madrid"
    assert proposed.event.meeting_url == "https://meet.example.org/consult-abc"

    confirmed = consults.confirm(proposed.record, "c1", slot(4).start, actor=FAMILY, at=NOW)
    (consult,) = confirmed.record.consults
    assert consult.state == "confirmed" and consult.confirmed_slot == slot(4)
    assert confirmed.event.change == "confirmed" and confirmed.event.confirmed_slot == slot(4)
    assert confirmed.event.sequence == 0


def test_proposals_are_checked() -> None:
    requested = asked().record

    def proposing(**changes: object) -> str:
        proposal = Proposal(**{**PROPOSAL.__dict__, **changes})  # type: ignore[arg-type]
        return refused(lambda: consults.propose(requested, "c1", proposal, actor=STAFF, at=NOW))

    assert proposing(slots=(slot(-1),)) == "slot_in_past"
    assert proposing(slots=(slot(3), slot(3))) == "duplicate_slot"
    assert proposing(meeting_url=None) == "meeting_url_required"
    assert proposing(expert_time_zone="Nowhere/Land") == "unknown_time_zone"
    assert refused(lambda: consults.propose(requested, "zz", PROPOSAL, actor=STAFF, at=NOW)) == (
        "consult_not_found"
    )
    proposed = consults.propose(requested, "c1", PROPOSAL, actor=STAFF, at=NOW).record
    assert refused(lambda: consults.propose(proposed, "c1", PROPOSAL, actor=STAFF, at=NOW)) == (
        "invalid_transition"
    )
    assert refused(
        lambda: consults.confirm(proposed, "c1", slot(9).start, actor=FAMILY, at=NOW)
    ) == ("unknown_slot")


def test_a_reschedule_offers_new_times_and_raises_the_sequence() -> None:
    proposed = consults.propose(asked().record, "c1", PROPOSAL, actor=STAFF, at=NOW).record
    confirmed = consults.confirm(proposed, "c1", slot(3).start, actor=FAMILY, at=NOW).record
    later = Proposal(slots=(slot(7),), expert_id="ana", meeting_url=None)
    moved = consults.reschedule(confirmed, "c1", later, actor=STAFF, at=NOW)
    (consult,) = moved.record.consults
    assert consult.state == "proposed" and consult.confirmed_slot is None
    assert moved.event.change == "rescheduled" and moved.event.sequence == 1
    assert moved.event.slots == [slot(7)]
    # The meeting link is kept when a reschedule does not give a new one.
    assert moved.event.meeting_url == "https://meet.example.org/consult-abc"
    again = consults.confirm(moved.record, "c1", slot(7).start, actor=FAMILY, at=NOW)
    assert again.event.sequence == 1


def test_either_side_cancels_and_a_confirmed_time_is_kept_on_the_event() -> None:
    proposed = consults.propose(asked().record, "c1", PROPOSAL, actor=STAFF, at=NOW).record
    confirmed = consults.confirm(proposed, "c1", slot(3).start, actor=FAMILY, at=NOW).record
    cancelled = consults.cancel(confirmed, "c1", "family-unavailable", actor=FAMILY, at=NOW)
    assert cancelled.event.change == "cancelled"
    assert cancelled.event.cancel_reason == "family-unavailable"
    assert cancelled.event.confirmed_slot == slot(3) and cancelled.event.sequence == 1
    assert cancelled.record.consults[0].state == "cancelled"
    closed = cancelled.record
    assert refused(lambda: consults.cancel(closed, "c1", "other", actor=STAFF, at=NOW)) == (
        "invalid_transition"
    )
    # A new consult may be asked for once the last one is cancelled.
    fresh = consults.request(
        closed, consult_id="c2", ask=ASK, actor=FAMILY, report_issued=True, at=NOW
    )
    assert [c.consult_id for c in fresh.record.consults] == ["c1", "c2"]


def test_a_cancelled_case_takes_no_consult() -> None:
    closed = record().model_copy(update={"status": "cancelled"})
    ask = partial(
        consults.request,
        closed,
        consult_id="c1",
        ask=ASK,
        actor=FAMILY,
        report_issued=True,
        at=NOW,
    )
    assert refused(ask) == "case_closed"


def test_the_interpreter_and_the_zone_asked_for_at_submission_carry_to_the_consult() -> None:
    case = sample_case("case-1")
    guardian = case.guardian.model_copy(
        update={
            "interpreter_needed": True,
            "interpreter_language": "fr",
            "time_zone": "America/Montreal",
        }
    )
    submitted = CaseRecord.new(
        case.model_copy(update={"guardian": guardian}), at=NOW - timedelta(days=30)
    )
    bare = ConsultAsk(kind="video", attendees="family")
    step = consults.request(
        submitted, consult_id="c1", ask=bare, actor=FAMILY, report_issued=True, at=NOW
    )
    assert step.event.interpreter_needed and step.event.interpreter_language == "fr"
    assert step.event.requester_time_zone == "America/Montreal"
    # What the family says when asking wins over what the case says.
    own = ConsultAsk(kind="video", attendees="family", time_zone="Europe/Paris")
    step = consults.request(
        submitted, consult_id="c2", ask=own, actor=FAMILY, report_issued=True, at=NOW
    )
    assert step.event.requester_time_zone == "Europe/Paris"
