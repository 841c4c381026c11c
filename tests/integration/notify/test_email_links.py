"""Links in emails over real SMTP, with the default settings: the family's opens the web case
page with its case token; staff and experts get their signed-in pages, with no token."""

from __future__ import annotations

from email.message import EmailMessage
from urllib.parse import parse_qs, urlparse

import pytest

from shared.auth import TokenVerifier
from tests.integration.notify import events
from tests.integration.notify.conftest import StartNotify

pytestmark = pytest.mark.real

GUARDIAN = "rosa.parent@example.org"
WEB = "http://127.0.0.1:8000"


def link_in(message: EmailMessage) -> str:
    plain = message.get_body(preferencelist=("plain",))
    assert plain is not None
    (link,) = [w for w in str(plain.get_content()).split() if w.startswith("http")]
    return link


async def test_the_family_case_link_carries_its_case_token(
    start_notify: StartNotify, verifier: TokenVerifier
) -> None:
    async with start_notify() as notify:
        await notify.publish(events.submitted("link-1"))
        await notify.settled("link-1", 1)
        (mail,) = notify.sink.to(GUARDIAN)
        url = urlparse(link_in(mail))
        assert f"{url.scheme}://{url.netloc}{url.path}" == f"{WEB}/c/link-1"
        principal = verifier.verify(parse_qs(url.query)["access_token"][0])
        assert principal.role == "guardian" and principal.case_ids == {"link-1"}


async def test_staff_and_experts_are_linked_to_their_own_pages_without_a_token(
    start_notify: StartNotify,
) -> None:
    async with start_notify(
        staff_email="intake@hospital.example.org",
        expert_email_template="{expert_id}@experts.example.org",
    ) as notify:
        await notify.publish(
            events.submitted("link-2"),
            events.offered("link-2"),
            events.service_level("link-2", "service-level-at-risk"),
        )
        await notify.settled("link-2", 4)
        to_expert = {
            str(m["Subject"]).split(":")[0]: link_in(m)
            for m in notify.sink.to("ana@experts.example.org")
        }
        assert to_expert == {
            "A second-opinion case is offered to you (ref link-2)": f"{WEB}/expert/offers",
            "At risk": f"{WEB}/expert/cases/link-2",
        }
        (to_staff,) = notify.sink.to("intake@hospital.example.org")
        assert link_in(to_staff) == f"{WEB}/staff/cases/link-2"
