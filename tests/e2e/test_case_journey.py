"""A case's whole journey through the six services running as processes on the real stack:
a hospital emits it, records arrive, an expert accepts and signs, and the family is told by
email with a link that opens the report. Every service's own view agrees at the end."""

from __future__ import annotations

import email
import socket
from collections.abc import Iterator
from email.message import Message

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from bench.journey import Journey
from shared.bus import KafkaEventPublisher
from shared.contracts import CASE_TOPICS, CaseSubmitted
from shared.topics import INBOUND_TOPICS, dlq_topic
from tests.platform import Platform
from tests.support import eventually, sample_case
from tests.topic_reading import read_topic

pytestmark = pytest.mark.real


class MailSink:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(content)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def mail() -> Iterator[tuple[MailSink, int]]:
    sink, port = MailSink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield sink, port
    controller.stop()


@pytest.fixture
def platform_env(mail: tuple[MailSink, int]) -> dict[str, str]:
    return {"NOTIFY_SMTP_HOST": "127.0.0.1", "NOTIFY_SMTP_PORT": str(mail[1])}


def text_of(message: Message) -> str:
    parts = message.walk() if message.is_multipart() else [message]
    return "\n".join(
        p.get_payload(decode=True).decode()  # type: ignore[union-attr]
        for p in parts
        if p.get_content_type() == "text/plain"
    )


async def test_a_case_goes_from_a_hospital_to_a_signed_report_the_family_can_open(
    platform: Platform, publisher: KafkaEventPublisher, mail: tuple[MailSink, int]
) -> None:
    sink, _ = mail
    case = sample_case("journey-1", organization_id="valley", hospital_request_id="VP-2026-0042")
    async with httpx.AsyncClient(timeout=30) as http:
        urls = {name: platform.url(name) for name in platform.services}
        journey = Journey(urls, platform.issuer, http)
        # A hospital's broken request carrying the same child's details: dead-lettered, and its
        # reason must not repeat them (checked at the end).
        broken = case.model_copy(update={"case_id": "journey-broken", "urgency": "whenever"})
        await journey.submit_as_hospital(publisher, platform.stack, broken)
        signed = await journey.whole_way(publisher, platform.stack, case)
        assert signed["version"] == 1

        family = journey.auth("guardian", "family-1", cases=("journey-1",))

        async def status_is_issued() -> dict[str, object] | None:
            status = await http.get(f"{urls['intake']}/cases/journey-1/status", headers=family)
            body: dict[str, object] = status.json()
            return body if body.get("stage") == "report-issued" else None

        await eventually(status_is_issued, within=60)

        async def timeline_is_issued() -> dict[str, object] | None:
            found = await http.get(
                f"{urls['notify']}/cases/journey-1/timeline", headers=journey.staff
            )
            body: dict[str, object] = found.json() if found.status_code == 200 else {}
            return body if body.get("stage") == "report-issued" else None

        await eventually(timeline_is_issued, within=60)

        def report_mail() -> Message | None:
            # Every family email carries a case link; the report email's opens at the report.
            for recipients, message in sink.messages:
                if case.guardian.email in recipients and "#report" in text_of(message):
                    return message
            return None

        message = await eventually(report_mail, within=60)
        body = text_of(message)
        assert case.working_diagnosis not in body  # no clinical details in an email
        assert not any(p.get_filename() for p in message.walk())  # and no attachment
        link = next(word for word in body.split() if "access_token=" in word)
        # The link opens the family's case page (its token becomes a cookie session), where
        # the report's PDF is.
        async with httpx.AsyncClient(timeout=30, follow_redirects=True) as browser:
            page = await browser.get(link)
            assert page.status_code == 200 and "access_token" not in str(page.url)
            pdf = await browser.get(f"{urls['web']}/c/journey-1/report.pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")

        officer = journey.auth("compliance-officer", "officer-1")

        async def trail() -> set[tuple[str, str]] | None:
            found = await http.get(f"{urls['audit']}/audit/cases/journey-1", headers=officer)
            pairs = {(r["service"], r["agent"]["role"]) for r in found.json()["records"]}
            return pairs if ("reports", "guardian") in pairs else None

        pairs = await eventually(trail, within=60)
        assert {("records", "intake-staff"), ("reports", "expert")} <= pairs

    stack = platform.stack
    await no_personal_details_left_behind(platform, case)
    submitted = [r for r in await read_topic(stack, stack.topic("case.submitted"))]
    assert len({r.value for r in submitted if r.key == b"journey-1"}) == 1
    issued = [r for r in await read_topic(stack, stack.topic("report.issued"))]
    assert len([r for r in issued if r.key == b"journey-1"]) == 1


async def no_personal_details_left_behind(platform: Platform, case: CaseSubmitted) -> None:
    """The child's and the family's details appear in no log line and no dead-letter header."""
    details = [
        case.patient.given_name,
        case.patient.family_name,
        case.patient.date_of_birth.isoformat(),
        case.guardian.name,
        case.guardian.email,
        case.guardian.phone,
        case.referring_physician.email,
    ]
    for service in platform.services.values():
        text = service.log_path.read_text()
        assert text, service.name
        assert [d for d in details if d in text] == [], service.name
    stack = platform.stack
    dead = 0
    for topic in (*CASE_TOPICS, *INBOUND_TOPICS):
        for record in await read_topic(stack, dlq_topic(stack.topic(topic))):
            dead += 1
            headers = b" ".join(value for _, value in record.headers).decode(errors="replace")
            assert [d for d in details if d in headers] == [], topic
    assert dead >= 1  # the broken request is there, so the scan looked at something
