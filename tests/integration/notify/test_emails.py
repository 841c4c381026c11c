"""Emails over real SMTP (aiosmtpd on loopback): the right people, once each, in their
language, without clinical details; retried after a temporary refusal; bounces logged."""

from __future__ import annotations

import re
from email.message import EmailMessage
from urllib.parse import parse_qs, urlparse

import pytest

from shared.auth import TokenVerifier
from tests.integration.notify import events
from tests.integration.notify.conftest import StartNotify
from tests.support import eventually

pytestmark = pytest.mark.real

GUARDIAN = "rosa.parent@example.org"
PHYSICIAN = "lee@valley.example.org"
# What a message may never contain: the child's name and birth date, the diagnosis, the
# questions, the staff's free-text request.
CLINICAL = ("Amelia", "Quinterofake", "2016-04-09", "Medulloblastoma", "proton", "MRI of")


def subject(message: EmailMessage) -> str:
    return str(message["Subject"]).strip()


def text_with_links(message: EmailMessage) -> str:
    plain = message.get_body(preferencelist=("plain",))
    assert plain is not None
    return str(plain.get_content())


def text_of(message: EmailMessage) -> str:
    """Subject and both parts, links left out (a token's random letters could match a word)."""
    parts = [p.get_content() for p in message.walk() if p.get_content_maintype() == "text"]
    text = str(message["Subject"]) + "\n" + "\n".join(parts)
    return re.sub(r"(https?://|href=\")\S+", "", text)


async def test_the_family_is_told_once_per_event_in_its_language(
    start_notify: StartNotify,
) -> None:
    async with start_notify() as notify:
        submitted = events.submitted("mail-1")  # the guardian prefers Spanish
        requested = events.records_requested("mail-1")
        ready = events.records_ready("mail-1")
        await notify.publish(submitted, requested, ready)
        await notify.settled("mail-1", 3)
        # Redelivered events (a consumer restart, a producer retry) mail nobody again.
        await notify.publish(submitted, requested, ready)
        await eventually(lambda: notify.has_seen("mail-1", ready.id))
        follow = events.records_updated("mail-1")
        await notify.publish(follow)
        await eventually(lambda: notify.has_seen("mail-1", follow.id))
        await notify.service.ports.dispatcher.dispatch_once()

        mails = notify.sink.to(GUARDIAN)
        # The three topics are consumed independently, so the mails may come in any order.
        assert sorted(subject(m) for m in mails) == [
            "Hemos recibido su solicitud de segunda opinión (ref. mail-1)",
            "Necesitamos 2 documento(s) más para su solicitud (ref. mail-1)",
            "Sus documentos están completos (ref. mail-1)",
        ]
        for mail in mails:
            assert mail["Content-Language"] == "es"
            assert not any(word in text_of(mail) for word in CLINICAL)
        log = await notify.deliveries(case_id="mail-1")
        assert sorted(d["status"] for d in log) == ["sent", "sent", "sent"]
        assert all(d["address"] == "r***@example.org" for d in log)


async def test_the_report_email_carries_a_case_scoped_link_and_no_report(
    start_notify: StartNotify, verifier: TokenVerifier
) -> None:
    async with start_notify() as notify:
        await notify.publish(events.submitted("mail-2"), events.issued("mail-2"))
        await notify.settled("mail-2", 3)
        (guardian,) = [m for m in notify.sink.to(GUARDIAN) if "informe" in subject(m)]
        (physician,) = notify.sink.to(PHYSICIAN)
        assert subject(guardian) == "Su informe de segunda opinión está listo (ref. mail-2)"
        assert subject(physician) == "Your second-opinion report is ready (ref mail-2)"
        for mail, role in ((guardian, "guardian"), (physician, "referring-physician")):
            body = text_of(mail)
            assert not any(word in body for word in CLINICAL)
            assert [p.get_content_type() for p in mail.walk()] == [
                "multipart/alternative",
                "text/plain",
                "text/html",
            ]
            link = next(w for w in text_with_links(mail).split() if "access_token=" in w)
            assert (urlparse(link).path, urlparse(link).fragment) == ("/c/mail-2", "report")
            token = parse_qs(urlparse(link).query)["access_token"][0]
            principal = verifier.verify(token)
            assert principal.role == role and principal.case_ids == {"mail-2"}


async def test_a_temporary_refusal_is_retried_and_a_bounce_is_logged(
    start_notify: StartNotify,
) -> None:
    async with start_notify() as notify:
        notify.sink.temporary_failures = 2
        await notify.publish(events.submitted("mail-3"))
        (delivery,) = await notify.settled("mail-3", 1)
        assert delivery["status"] == "sent" and delivery["attempts"] == 3
        assert [h["code"] for h in delivery["history"]] == ["smtp_451", "smtp_451", "smtp_250"]

        guardian = {**events.submitted("mail-4").data["guardian"], "email": "unknown@example.org"}
        await notify.publish(events.submitted("mail-4", guardian=guardian))
        (bounced,) = await notify.settled("mail-4", 1)
        assert bounced["status"] == "bounced" and bounced["attempts"] == 1
        assert bounced["last_error"]["code"] == "smtp_550"


async def test_experts_and_staff_hear_about_offers_and_service_levels(
    start_notify: StartNotify,
) -> None:
    async with start_notify(staff_email="intake@hospital.example.org") as notify:
        answer = await notify.client.put(
            "/experts/ana/contact",
            json={"email": "ana@experts.example.org"},
            headers=notify.auth("admin"),
        )
        assert answer.status_code == 204
        await notify.publish(
            events.submitted("mail-5"),
            events.offered("mail-5"),
            events.assigned("mail-5"),
            events.service_level("mail-5", "service-level-at-risk"),
        )
        await notify.settled("mail-5", 6)
        to_ana = sorted(subject(m) for m in notify.sink.to("ana@experts.example.org"))
        assert to_ana[0] == "A second-opinion case is offered to you (ref mail-5)"
        assert to_ana[1].startswith("At risk: case mail-5 is due by")
        assert to_ana[2] == "Case mail-5 accepted by Dr. Ana Ruiz"
        to_staff = sorted(subject(m) for m in notify.sink.to("intake@hospital.example.org"))
        assert to_staff[0].startswith("At risk: case mail-5")
        assert to_staff[1] == "Case mail-5 accepted by Dr. Ana Ruiz"


async def test_an_unreachable_mail_server_is_retried_until_it_answers(
    start_notify: StartNotify,
) -> None:
    from tests.integration.notify.conftest import free_port

    async with start_notify(smtp_port=free_port()) as notify:
        await notify.publish(events.submitted("mail-6"))
        (delivery,) = await notify.settled("mail-6", 1)
        assert delivery["status"] == "gave-up"
        assert delivery["attempts"] == 4
        assert delivery["last_error"]["code"] == "smtp_unreachable"
