"""The submission rate limit counts a sliding minute per client."""

from __future__ import annotations

from services.intake.limits import RateLimiter


def test_a_client_waits_once_its_minute_is_full_and_others_do_not() -> None:
    now = [1000.0]
    limiter = RateLimiter(per_minute=2, clock=lambda: now[0])
    assert limiter.check("a") is None
    now[0] += 10
    assert limiter.check("a") is None
    assert limiter.check("a") == 50
    assert limiter.check("b") is None
    now[0] += 50
    assert limiter.check("a") is None  # the first request has left the window
    assert limiter.check("a") == 10
