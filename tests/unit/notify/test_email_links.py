"""Links in emails, with the default settings: families and physicians get the web case page
with a case-scoped token; staff and experts get their own signed-in pages, with no token."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import cast
from urllib.parse import parse_qs, urlparse

import pytest

from services.notify.addresses import AddressBook
from services.notify.channels import InMemoryMailer
from services.notify.config import NotifySettings
from services.notify.dispatcher import Dispatcher, DispatchPolicy
from services.notify.domain.deliveries import Outcome
from services.notify.emails import EmailRenderer
from services.notify.handlers import NotifyContext, on_case_event
from services.notify.links import Links
from services.notify.store import NotifyStore
from services.notify.wiring import email_links
from shared.auth import Principal, TokenIssuer, TokenVerifier
from shared.consumer import Delivery
from shared.contracts import AssignmentUpdated, ReportIssued, decode_payload
from shared.contracts.expert_assigned import ExpertRef
from shared.contracts.report_issued import StoredObject
from shared.envelope import CloudEvent, make_event
from tests.support import sample_event
from tests.unit.notify.fakes import FakeNotifyStore

ISSUER = TokenIssuer.generate()
VERIFIER = TokenVerifier(jwks=ISSUER.jwks(), issuers=[ISSUER.issuer], audience=ISSUER.audience)
GUARDIAN = "rosa.parent@example.org"
PHYSICIAN = "lee@valley.example.org"
STAFF = "staff@x.test"
EXPERT = "ana@experts.test"
WEB = "http://127.0.0.1:8000"


class NoWebhooks:
    async def post(self, *, url: str, secret: str, msg_id: str, body: bytes) -> Outcome:
        raise AssertionError("no webhook expected")


class Notify:
    """Handlers and dispatcher over fakes, wired with the default link settings."""

    def __init__(self, issuer: TokenIssuer | None = ISSUER) -> None:
        self.store = FakeNotifyStore()
        store = cast(NotifyStore, self.store)
        self.mailer = InMemoryMailer()
        self.ctx = NotifyContext(store=store)
        self.dispatcher = Dispatcher(
            store=store,
            mailer=self.mailer,
            webhooks=NoWebhooks(),
            renderer=EmailRenderer(),
            links=email_links(NotifySettings(), issuer),
            addresses=AddressBook(
                store=store, staff_email=STAFF, expert_email_template="{expert_id}@experts.test"
            ),
            sender="Team <no-reply@x.test>",
            policy=DispatchPolicy(email_schedule_s=[60], webhook_schedule_s=[5]),
        )

    async def tell(self, *events: CloudEvent) -> None:
        for event in events:
            delivery = Delivery(event, decode_payload(event), event.type, 0, 0)
            await on_case_event(delivery, ctx=self.ctx)
        # Two sends at a time go to the mail relay: dispatch rounds until nothing is due.
        while await self.dispatcher.dispatch_once():
            while self.dispatcher._tasks:
                await asyncio.gather(*list(self.dispatcher._tasks))
                await asyncio.sleep(0)  # let the done-callbacks run

    def mails_to(self, address: str) -> list[EmailMessage]:
        return [message for to, message in self.mailer.sent if to == address]


def link_in(message: EmailMessage) -> str:
    """The one link of a message (its plain part; the HTML part has the same link)."""
    plain = message.get_body(preferencelist=("plain",))
    assert plain is not None
    (link,) = [w for w in str(plain.get_content()).split() if w.startswith("http")]
    return link


def holder_of(link: str) -> Principal:
    (token,) = parse_qs(urlparse(link).query)["access_token"]
    return VERIFIER.verify(token)


def expert(expert_id: str = "ana") -> ExpertRef:
    return ExpertRef(expert_id=expert_id, display_name="Dr. Ana Ruiz", specialty="neuro-oncology")


def assignment(case_id: str, change: str, **fields: object) -> CloudEvent:
    payload = AssignmentUpdated.model_validate(
        {"case_id": case_id, "assignment_id": f"asg-{case_id}", "change": change, **fields}
    )
    return make_event(payload, source="/tests/assignment", subject=case_id)


def issued(case_id: str) -> CloudEvent:
    def stored(kind: str) -> StoredObject:
        return StoredObject(
            bucket="reports",
            key=f"{case_id}/v1.{kind}",
            sha256="0" * 64,
            size_bytes=1000,
            content_type="application/pdf" if kind == "pdf" else "text/html",
        )

    payload = ReportIssued(
        case_id=case_id,
        report_id=f"rep-{case_id}",
        version=1,
        concordance="refined",
        treatment_change="modified",
        language="es",
        html=stored("html"),
        pdf=stored("pdf"),
        recipients=["guardian", "referring-physician"],
        issued_at=datetime.now(UTC),
    )
    return make_event(payload, source="/tests/reports", subject=case_id)


async def test_a_family_case_link_opens_the_web_case_page_with_a_guardian_token() -> None:
    notify = Notify()
    await notify.tell(sample_event("c-links-1"))
    (mail,) = notify.mails_to(GUARDIAN)
    link = link_in(mail)
    assert link.startswith(f"{WEB}/c/c-links-1?access_token=")
    principal = holder_of(link)
    assert principal.role == "guardian"
    assert principal.case_ids == {"c-links-1"}


async def test_a_physician_link_opens_the_report_on_the_case_page_with_a_physician_token() -> None:
    notify = Notify()
    await notify.tell(sample_event("c-links-2"), issued("c-links-2"))
    (mail,) = notify.mails_to(PHYSICIAN)
    url = urlparse(link_in(mail))
    assert (url.path, url.fragment) == ("/c/c-links-2", "report")
    principal = holder_of(url.geturl())
    assert principal.role == "referring-physician"
    assert principal.case_ids == {"c-links-2"}
    (report,) = [m for m in notify.mails_to(GUARDIAN) if "informe" in str(m["Subject"])]
    assert holder_of(link_in(report)).role == "guardian"


async def test_a_staff_link_opens_the_staff_case_page_without_a_token() -> None:
    notify = Notify()
    await notify.tell(sample_event("c-links-3"), assignment("c-links-3", "no-expert-available"))
    (mail,) = notify.mails_to(STAFF)
    assert link_in(mail) == f"{WEB}/staff/cases/c-links-3"
    assert "access_token" not in mail.as_string()


async def test_an_offer_links_the_expert_to_their_offers() -> None:
    notify = Notify()
    expires = datetime.now(UTC) + timedelta(hours=24)
    offer = assignment("c-links-4", "offered", expert=expert(), offer_expires_at=expires)
    await notify.tell(sample_event("c-links-4"), offer)
    (mail,) = notify.mails_to(EXPERT)
    assert str(mail["Subject"]).startswith("A second-opinion case is offered to you")
    assert link_in(mail) == f"{WEB}/expert/offers"
    html = mail.get_body(preferencelist=("html",))
    assert html is not None and f'href="{WEB}/expert/offers"' in str(html.get_content())


async def test_a_service_level_mail_links_staff_and_expert_to_their_own_case_pages() -> None:
    notify = Notify()
    due = datetime.now(UTC) + timedelta(days=1)
    at_risk = assignment("c-links-5", "service-level-at-risk", expert=expert(), due_at=due)
    await notify.tell(sample_event("c-links-5"), at_risk)
    (to_staff,) = notify.mails_to(STAFF)
    (to_expert,) = notify.mails_to(EXPERT)
    assert link_in(to_staff) == f"{WEB}/staff/cases/c-links-5"
    assert link_in(to_expert) == f"{WEB}/expert/cases/c-links-5"


async def test_without_a_link_key_family_mails_fail_and_staff_mails_still_go() -> None:
    notify = Notify(issuer=None)
    await notify.tell(sample_event("c-links-6"), assignment("c-links-6", "no-expert-available"))
    assert [to for to, _ in notify.mailer.sent] == [STAFF]
    (family,) = [d for d in notify.store.deliveries.values() if d["recipient"] == "guardian"]
    assert family["status"] == "failed"
    assert family["last_error"]["code"] == "no_link_key"


async def test_tokens_are_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    notify = Notify()
    with caplog.at_level(logging.DEBUG):
        await notify.tell(sample_event("c-links-7"), issued("c-links-7"))
    assert len(notify.mailer.sent) == 3
    logged = " ".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert "access_token" not in logged
    for _, mail in notify.mailer.sent:
        token = parse_qs(urlparse(link_in(mail)).query)["access_token"][0]
        assert token not in logged


def links(**templates: str) -> Links:
    defaults = {
        "case_template": "https://web.test/c/{case_id}?access_token={token}",
        "report_template": "https://web.test/c/{case_id}?access_token={token}#report",
        "staff_case_template": "https://web.test/staff/cases/{case_id}",
        "expert_case_template": "https://web.test/expert/cases/{case_id}",
        "expert_offers_link": "https://web.test/expert/offers",
    }
    return Links(**{**defaults, **templates}, issuer=None, ttl_s=3600)


def test_a_link_template_without_a_token_issues_none() -> None:
    plain = links(case_template="https://web.test/c/{case_id}")
    doc = {"case_id": "c9", "recipient": "guardian", "template": "request-received"}
    params = plain.params(doc, datetime.now(UTC), shown={"case_id", "case_link"})
    assert params == {"case_id": "c9", "case_link": "https://web.test/c/c9"}


def test_the_report_link_may_name_the_report() -> None:
    named = links(report_template="https://web.test/c/{case_id}/{report_id}")
    doc = {"case_id": "c9", "recipient": "guardian", "params": {"report_id": "rep-1"}}
    params = named.params(doc, datetime.now(UTC), shown={"report_link"})
    assert params is not None and params["report_link"] == "https://web.test/c/c9/rep-1"


@pytest.mark.parametrize(
    "templates",
    [
        {"staff_case_template": "https://web.test/staff/cases/{case_id}?t={token}"},
        {"expert_case_template": "https://web.test/expert/cases/{case_id}?t={token}"},
        {"case_template": "https://web.test/c/{caseid}"},
    ],
)
def test_signed_in_pages_get_no_token_and_unknown_placeholders_are_refused(
    templates: dict[str, str],
) -> None:
    with pytest.raises(ValueError, match="may use"):
        links(**templates)
