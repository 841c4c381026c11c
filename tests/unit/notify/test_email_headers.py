"""Every email carries the headers RFC 5322 requires: Date (was missing) and Message-ID."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from services.notify.emails import RenderedEmail, build_message


def test_an_email_says_when_it_was_sent_and_which_message_it_is() -> None:
    email = RenderedEmail(subject="s", text="t", html="<p>t</p>", language="en")
    at = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
    message = build_message(email, sender="a@b.org", to="c@d.org", delivery_id="e1", sent_at=at)
    assert parsedate_to_datetime(message["Date"]) == at
    assert message["Message-ID"] == "<e1@notify.second-opinion>"
    assert build_message(email, sender="a@b.org", to="c@d.org", delivery_id="e2")["Date"]
