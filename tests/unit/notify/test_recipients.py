"""Who hears about which event, and in which language."""

from __future__ import annotations

from services.notify.domain.recipients import delivery_id, language_for, messages_for
from tests.unit.notify.events import assigned, change, fact, follow_up, issued, submitted


def who(event: object) -> list[tuple[str, str]]:
    return [(m.recipient.key, m.template) for m in messages_for(event)]  # type: ignore[arg-type]


def test_the_family_hears_about_its_request_and_its_records() -> None:
    assert who(submitted()) == [("guardian", "request-received")]
    assert who(fact("records.requested", items=2)) == [("guardian", "records-requested")]
    ready = fact("records.ready", documents=1, studies=0, identity="match")
    assert who(ready) == [("guardian", "records-complete")]
    assert who(fact("records.updated", missing=1, required=2)) == []


def test_offers_go_to_the_expert_and_acceptance_to_staff_and_expert() -> None:
    offered = change(1, "offered", expert_id="ana", expert_name="Dr. Ana")
    assert who(offered) == [("expert:ana", "offer-made")]
    assert who(assigned(2)) == [("staff", "offer-accepted"), ("expert:ana", "offer-accepted")]
    assert who(change(3, "declined", expert_id="ana")) == []


def test_service_levels_warn_staff_and_the_expert() -> None:
    assert who(change(1, "service-level-at-risk", expert_id="ana")) == [
        ("staff", "service-level-at-risk"),
        ("expert:ana", "service-level-at-risk"),
    ]
    assert who(change(1, "service-level-overdue")) == [("staff", "service-level-overdue")]


def test_reports_go_to_the_named_recipients_and_amendments_answer_follow_ups() -> None:
    assert who(issued(1)) == [
        ("guardian", "report-issued"),
        ("referring-physician", "report-issued"),
    ]
    assert who(issued(2, version=2, amends=1))[0] == ("guardian", "report-amended")


def test_languages_fall_back_to_english() -> None:
    assert language_for("es") == "es"
    assert language_for("es-MX") == "es"
    assert language_for("pt-BR") == "en"
    assert language_for(None) == "en"


def test_one_delivery_id_per_event_channel_and_recipient() -> None:
    assert delivery_id("e1", "email", "guardian") != delivery_id("e1", "email", "staff")
    assert delivery_id("e1", "email", "guardian") == "e1:email:guardian"


def test_a_question_reaches_the_lead_and_staff_and_its_answer_the_asker() -> None:
    assert who(follow_up(1, "asked", 1)) == [
        ("expert:ana", "follow-up-asked"),
        ("staff", "follow-up-asked"),
    ]
    assert who(follow_up(2, "answered", 0)) == [("guardian", "follow-up-answered")]
    physician = follow_up(2, "answered", 0, by="referring-physician")
    assert who(physician) == [("referring-physician", "follow-up-answered")]
    closed = follow_up(3, "closed", 0, reason="out-of-scope")
    assert who(closed) == [("guardian", "follow-up-closed")]
    assert who(follow_up(3, "closed", 0, reason="case-cancelled")) == []


def test_consult_steps_reach_the_right_people() -> None:
    from tests.unit.notify.events import consult

    assert who(consult(1, "requested")) == [("staff", "consult-requested")]
    assert who(consult(2, "proposed")) == [("guardian", "consult-proposed")]
    assert who(consult(3, "rescheduled")) == [
        ("guardian", "consult-rescheduled"),
        ("expert:ana", "consult-rescheduled"),
    ]
    confirmed = [
        ("guardian", "consult-confirmed"),
        ("referring-physician", "consult-confirmed"),
        ("expert:ana", "consult-confirmed"),
        ("staff", "consult-confirmed"),
    ]
    assert who(consult(4, "confirmed")) == confirmed
    family_only = consult(4, "confirmed", attendees="family")
    assert len(who(family_only)) == 3
    cancelled = consult(5, "cancelled", cancel_reason="other")
    assert [w for w, _ in who(cancelled)] == [
        "guardian",
        "referring-physician",
        "expert:ana",
        "staff",
    ]


def test_consult_times_are_shown_in_each_persons_time_zone_with_an_invitation() -> None:
    from tests.unit.notify.events import consult

    (proposed,) = messages_for(consult(2, "proposed"))
    # 16:00 UTC is 10:00 in Mexico City in November.
    assert proposed.params["slots"][0].startswith("2026-11-20 10:00-10:45")
    assert "America/Mexico_City" in proposed.params["slots"][0]
    assert proposed.invitation is None
    by_who = {m.recipient.key: m for m in messages_for(consult(4, "confirmed"))}
    assert by_who["guardian"].params["when"].startswith("2026-11-20 10:00-10:45")
    assert by_who["expert:ana"].params["when"].startswith("2026-11-20 17:00-17:45")
    assert "Europe/Madrid" in by_who["expert:ana"].params["when"]
    assert "UTC" in by_who["staff"].params["when"]
    for message in by_who.values():
        assert message.invitation is not None
        assert (message.invitation.method, message.invitation.consult_id) == ("REQUEST", "c1")
        assert message.params["meeting_url"] == "https://meet.example.org/abc"
    cancelled = messages_for(
        consult(
            5,
            "cancelled",
            confirmed_slot={"start": "2026-11-20T16:00:00+00:00", "minutes": 45},
            sequence=1,
        )
    )
    assert {m.invitation.method for m in cancelled if m.invitation} == {"CANCEL"}
    unconfirmed = messages_for(consult(5, "cancelled"))
    assert all(m.invitation is None for m in unconfirmed)
