"""The ports deliveries go out through, their adapters and fakes: mail over SMTP, SMS (log
only until a provider is chosen) and webhooks over HTTP. Each turns its result into an Outcome."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib
import httpx

from services.notify.domain.deliveries import Outcome, sign, smtp_outcome, webhook_outcome
from shared.tracing import client_span, inject_headers

log = logging.getLogger(__name__)


class Mailer(Protocol):
    async def send(self, message: EmailMessage, *, to: str) -> Outcome:
        """Hand one message to the mail relay; never raises for a delivery problem."""


@dataclass(frozen=True)
class SmtpMailer:
    host: str
    port: int
    sender: str
    start_tls: bool = False
    use_tls: bool = False
    username: str | None = None
    password: str | None = None
    timeout_s: float = 15.0

    async def send(self, message: EmailMessage, *, to: str) -> Outcome:
        # The span names the relay, never the recipient or the message.
        relay = {"server.address": self.host, "server.port": self.port, "notify.channel": "email"}
        with client_span("smtp send", attributes=relay) as span:
            outcome = await self._send(message, to=to)
            span.set_attribute("notify.outcome", outcome.code)
        return outcome

    async def _send(self, message: EmailMessage, *, to: str) -> Outcome:
        try:
            await aiosmtplib.send(
                message,
                sender=_address(self.sender),
                recipients=[to],
                hostname=self.host,
                port=self.port,
                start_tls=self.start_tls,
                use_tls=self.use_tls,
                username=self.username,
                password=self.password,
                timeout=self.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as refused:
            code = refused.recipients[0].code if refused.recipients else 550
            return smtp_outcome(code, recipient_refused=True)
        except aiosmtplib.SMTPResponseException as error:
            return smtp_outcome(error.code, recipient_refused=False)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            return Outcome("retry", "smtp_unreachable", type(error).__name__)
        return Outcome("sent", "smtp_250")


def _address(sender: str) -> str:
    """The bare address of `Name <address>`."""
    return sender.rsplit("<", 1)[-1].rstrip(">").strip()


@dataclass
class InMemoryMailer:
    """Fake mailer for unit tests: keeps what was sent, answers what it is told to."""

    sent: list[tuple[str, EmailMessage]] = field(default_factory=list)
    answers: list[Outcome] = field(default_factory=list)

    async def send(self, message: EmailMessage, *, to: str) -> Outcome:
        answer = self.answers.pop(0) if self.answers else Outcome("sent", "fake")
        if answer.kind == "sent":
            self.sent.append((to, message))
        return answer


class SmsSender(Protocol):
    async def send(self, *, to: str, text: str) -> Outcome:
        """Send one short text message."""


class LogOnlySms:
    """No SMS provider is chosen yet: texts are recorded as skipped, and logged without content."""

    async def send(self, *, to: str, text: str) -> Outcome:
        log.info("sms not sent: no provider configured")
        return Outcome("failed", "sms_no_provider", "no SMS provider is configured")


class WebhookSender(Protocol):
    async def post(self, *, url: str, secret: str, msg_id: str, body: bytes) -> Outcome:
        """POST one signed delivery; never raises for a delivery problem."""


class HttpWebhookSender:
    """Signed POSTs with a hard timeout: a slow partner costs one slot, never the others."""

    def __init__(self, *, timeout_s: float = 10.0) -> None:
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s), follow_redirects=False, trust_env=False
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def post(self, *, url: str, secret: str, msg_id: str, body: bytes) -> Outcome:
        # The partner's host only: its URL may carry the partner's token in path or query.
        partner = {
            "http.request.method": "POST",
            "server.address": httpx.URL(url).host,
            "notify.channel": "webhook",
            "notify.delivery.id": msg_id,
        }
        with client_span("webhook POST", attributes=partner) as span:
            outcome = await self._post(url=url, secret=secret, msg_id=msg_id, body=body)
            span.set_attribute("notify.outcome", outcome.code)
        return outcome

    async def _post(self, *, url: str, secret: str, msg_id: str, body: bytes) -> Outcome:
        timestamp = int(time.time())
        headers = {
            "content-type": "application/cloudevents+json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret=secret, msg_id=msg_id, timestamp=timestamp, body=body),
            "user-agent": "second-opinion-notify/1",
        }
        inject_headers(headers)  # the partner can join the trace (W3C traceparent)
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.TimeoutException:
            return Outcome("retry", "timeout", "the partner did not answer in time")
        except httpx.HTTPError as error:
            return Outcome("retry", "unreachable", type(error).__name__)
        return webhook_outcome(response.status_code, response.headers.get("retry-after"))
