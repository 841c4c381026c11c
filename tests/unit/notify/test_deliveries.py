"""Retry schedules, what an answer means, and Standard Webhooks signatures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.notify.domain.deliveries import (
    WEBHOOK_SCHEDULE_S,
    new_webhook_secret,
    next_attempt,
    sign,
    smtp_outcome,
    verify,
    webhook_outcome,
)

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_webhooks_are_retried_for_more_than_a_day_then_given_up() -> None:
    total = sum(WEBHOOK_SCHEDULE_S)
    assert total >= 24 * 3600
    waits = [
        next_attempt(attempts=n, now=NOW, schedule=WEBHOOK_SCHEDULE_S)
        for n in range(1, len(WEBHOOK_SCHEDULE_S) + 1)
    ]
    assert all(w is not None for w in waits)
    assert [w - NOW for w in waits if w] == [timedelta(seconds=s) for s in WEBHOOK_SCHEDULE_S]
    assert next_attempt(attempts=len(WEBHOOK_SCHEDULE_S) + 1, now=NOW, schedule=(1, 2)) is None


def test_retry_after_is_honoured_within_the_longest_wait() -> None:
    when = next_attempt(attempts=1, now=NOW, schedule=(5, 60), retry_after_s=30)
    assert when == NOW + timedelta(seconds=30)
    capped = next_attempt(attempts=1, now=NOW, schedule=(5, 60), retry_after_s=10_000)
    assert capped == NOW + timedelta(seconds=60)


def test_partner_answers() -> None:
    assert webhook_outcome(200).kind == "sent"
    assert webhook_outcome(204).kind == "sent"
    assert webhook_outcome(500).kind == "retry"
    assert webhook_outcome(408).kind == "retry"
    assert webhook_outcome(429, "7").retry_after_s == 7
    assert webhook_outcome(400).kind == "failed"
    assert webhook_outcome(404).kind == "failed"
    assert webhook_outcome(410).kind == "disable"


def test_mail_server_answers() -> None:
    assert smtp_outcome(550, recipient_refused=True).kind == "bounced"
    assert smtp_outcome(554, recipient_refused=False).kind == "failed"
    assert smtp_outcome(451, recipient_refused=True).kind == "retry"


def test_a_signature_verifies_and_any_change_breaks_it() -> None:
    secret = new_webhook_secret()
    body = b'{"id":"e1","type":"report.issued"}'
    header = sign(secret=secret, msg_id="msg_1", timestamp=1_700_000_000, body=body)
    assert header.startswith("v1,")
    good = {"secret": secret, "msg_id": "msg_1", "timestamp": 1_700_000_000, "body": body}
    assert verify(**good, header=header, now=1_700_000_010)
    assert verify(**good, header=f"v1,bm90aGluZw== {header}", now=1_700_000_010)
    assert not verify(**{**good, "body": body + b" "}, header=header, now=1_700_000_010)
    assert not verify(**{**good, "msg_id": "msg_2"}, header=header, now=1_700_000_010)
    assert not verify(**good, header=header, now=1_700_009_999)  # replayed much later
    other = new_webhook_secret()
    assert not verify(**{**good, "secret": other}, header=header, now=1_700_000_010)


def test_the_signature_matches_the_standard_webhooks_example() -> None:
    # The test vector published with the Standard Webhooks specification.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    header = sign(
        secret=secret, msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp=1614265330, body=body
    )
    assert header == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
