"""Delivery rules: retry schedules, what an outcome means, and webhook signatures. No I/O.

Webhooks follow the Standard Webhooks scheme: `webhook-id`, `webhook-timestamp` and
`webhook-signature: v1,<base64 HMAC-SHA256 over "<id>.<timestamp>.<body>">`, with a
`whsec_<base64>` secret per partner.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Status = Literal["pending", "sending", "sent", "bounced", "failed", "gave-up", "skipped"]
FINAL: frozenset[Status] = frozenset({"sent", "bounced", "failed", "gave-up", "skipped"})

# Standard Webhooks' schedule after the first try: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h
# (about 27.5 hours in all, so a partner down for a day still gets everything).
WEBHOOK_SCHEDULE_S: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
# Mail servers recover faster; a day of tries too.
EMAIL_SCHEDULE_S: tuple[float, ...] = (30, 120, 600, 1800, 3600, 7200, 21600, 43200)


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: done, retry later, or never (with a PHI-free reason)."""

    kind: Literal["sent", "retry", "bounced", "failed", "disable"]
    code: str
    detail: str = ""
    retry_after_s: float | None = None


def next_attempt(
    *,
    attempts: int,
    now: datetime,
    schedule: Sequence[float],
    retry_after_s: float | None = None,
) -> datetime | None:
    """When to try again after `attempts` failed tries, or None once the schedule is spent."""
    if attempts < 1 or attempts > len(schedule):
        return None
    delay = schedule[attempts - 1]
    if retry_after_s is not None:
        # A partner's Retry-After is honoured, within the schedule's longest wait.
        delay = min(max(delay, retry_after_s), max(schedule))
    return now + timedelta(seconds=delay)


def webhook_outcome(status: int, retry_after: str | None = None) -> Outcome:
    """2xx delivered; 410 stops the endpoint; other 4xx (but 408, 429) are final; else retry."""
    if 200 <= status < 300:
        return Outcome("sent", f"http_{status}")
    if status == 410:
        return Outcome("disable", "http_410", "the partner says the endpoint is gone")
    if 400 <= status < 500 and status not in (408, 429):
        return Outcome("failed", f"http_{status}", "the partner refused the delivery")
    return Outcome("retry", f"http_{status}", retry_after_s=_seconds(retry_after))


def smtp_outcome(code: int, *, recipient_refused: bool) -> Outcome:
    """5xx for the recipient is a bounce; other 5xx are final; 4xx (and the rest) retry."""
    if recipient_refused and 500 <= code < 600:
        return Outcome("bounced", f"smtp_{code}", "the mail server refused the address")
    if 500 <= code < 600:
        return Outcome("failed", f"smtp_{code}", "the mail server refused the message")
    return Outcome("retry", f"smtp_{code}")


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def sign(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one attempt."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(
    *,
    secret: str,
    msg_id: str,
    timestamp: int,
    body: bytes,
    header: str,
    now: int,
    tolerance_s: int = 300,
) -> bool:
    """What a partner runs: any listed v1 signature matches, and the timestamp is recent."""
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = sign(secret=secret, msg_id=msg_id, timestamp=timestamp, body=body)
    return any(hmac.compare_digest(expected, candidate) for candidate in header.split())
