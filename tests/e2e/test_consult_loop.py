"""A video consult after the report, on the real stack: the family asks with its case link, the
intake team proposes two times with the expert and a meeting link, the family confirms one, and
the family (Spanish, Mexico City) and the expert (Madrid) each find a calendar invitation at
the mail sink with the time in their own zone; then the consult is cancelled and the invitation
withdrawn."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.message import Message
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import expect

from bench.journey import Journey
from shared.bus import KafkaEventPublisher
from tests.e2e.browser import SCREENSHOTS, Looked, chromium, person
from tests.e2e.test_case_journey import MailSink, mail, text_of
from tests.platform import Platform
from tests.support import eventually, sample_case
from tests.unit.notify.test_invitations import unfolded

pytestmark = pytest.mark.real
__all__ = ["mail"]  # fixture

CASE = "consult-1"
MEETING = "https://meet.example.org/consult-1"
# Mid-January: Mexico City is UTC-6 and Madrid UTC+1 (no daylight saving in either).
START = datetime(datetime.now(UTC).year + 1, 1, 14, 16, 0, tzinfo=UTC)


@pytest.fixture
def platform_env(mail: tuple[MailSink, int]) -> dict[str, str]:
    return {
        "NOTIFY_SMTP_HOST": "127.0.0.1",
        "NOTIFY_SMTP_PORT": str(mail[1]),
        "NOTIFY_EXPERT_EMAIL_TEMPLATE": "{expert_id}@experts.localhost",
    }


def calendar_of(message: Message) -> str | None:
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    return None


async def test_a_video_consult_is_proposed_confirmed_and_invited_in_two_time_zones(
    platform: Platform, publisher: KafkaEventPublisher, mail: tuple[MailSink, int]
) -> None:
    sink, _ = mail
    case = sample_case(CASE, organization_id="valley", hospital_request_id="VP-CONSULT-1")
    async with httpx.AsyncClient(timeout=30) as http:
        urls = {name: platform.url(name) for name in platform.services}
        journey = Journey(urls, platform.issuer, http)
        await journey.submit_as_hospital(publisher, platform.stack, case)
        await journey.send_records(CASE)
        expert_id = await journey.accept_offer(CASE)
        await journey.write_and_sign(CASE, expert_id)
        family = journey.auth("guardian", "family-1", cases=(CASE,))
        consults = f"{urls['intake']}/cases/{CASE}/consults"
        ask = {
            "kind": "video",
            "attendees": "family",
            "preferred_times": "Afternoons after school",
            "interpreter_needed": True,
            "interpreter_language": "es",
            "time_zone": "America/Mexico_City",
        }

        async def asked() -> httpx.Response | None:
            # Intake hears of the report on report.issued; until then the answer is 409.
            answer = await http.post(consults, json=ask, headers=family)
            if answer.status_code == 409:
                assert answer.json()["error"]["code"] == "report_not_issued", answer.text
                return None
            return answer

        requested = await eventually(asked, within=60)
        assert requested.status_code == 201, requested.text
        consult_id = requested.json()["consult_id"]

        def mailed(to: str, *subjects: str) -> Message | None:
            for recipients, message in reversed(sink.messages):
                if to in recipients and any(s in str(message["Subject"]) for s in subjects):
                    return message
            return None

        staff_mail = "intake-team@second-opinion.localhost"
        to_staff = await eventually(
            lambda: mailed(staff_mail, "consult with the expert"), within=60
        )
        assert "Afternoons" not in text_of(to_staff)  # the family's words stay at intake

        # The coordinator offers two times on the case page, typed in their own zone (Madrid).
        async with httpx.AsyncClient(base_url=urls["web"], timeout=30) as browser:
            staff_token = platform.issuer.issue(subject="staff-1", role="intake-staff")
            browser.cookies.set("sop_session", staff_token)
            browser.cookies.set("sop_tz", "Europe/Madrid")
            page = await browser.get(f"/staff/cases/{CASE}")
            assert page.status_code == 200 and "Video consult" in page.text, page.text[:500]
            csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
            assert csrf is not None
            madrid = ZoneInfo("Europe/Madrid")

            def typed(days: int) -> str:
                return (START + timedelta(days=days)).astimezone(madrid).strftime("%Y-%m-%dT%H:%M")

            proposed = await browser.post(
                f"/staff/cases/{CASE}/consults/{consult_id}/propose",
                data={
                    "csrf": csrf.group(1),
                    "slot_1": typed(0),
                    "slot_2": typed(1),
                    "minutes": "45",
                    "expert_id": expert_id,
                    "expert_time_zone": "Europe/Madrid",
                    "meeting_url": MEETING,
                },
            )
            assert proposed.status_code == 303, proposed.text[:500]
            page = await browser.get(f"/staff/cases/{CASE}")
            assert typed(0).replace("T", " ") in page.text  # shown back in the coordinator's zone
        await look_at_the_consult_panel(urls["web"], staff_token)
        offer = await eventually(
            lambda: mailed(case.guardian.email, "Horarios para su consulta", "Times for your"),
            within=60,
        )
        assert "10:00-10:45 (America/Mexico_City, UTC-06:00)" in text_of(offer)

        confirmed = await http.post(
            f"{consults}/{consult_id}/confirm", json={"start": START.isoformat()}, headers=family
        )
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["state"] == "confirmed"

        expert_mail = f"{expert_id}@experts.localhost"
        to_family = await eventually(
            lambda: mailed(case.guardian.email, "confirmada", "confirmed"), within=60
        )
        to_expert = await eventually(lambda: mailed(expert_mail, "confirmed"), within=60)
        assert "10:00-10:45 (America/Mexico_City, UTC-06:00)" in text_of(to_family)
        assert "17:00-17:45 (Europe/Madrid, UTC+01:00)" in text_of(to_expert)
        for to, message in ((case.guardian.email, to_family), (expert_mail, to_expert)):
            ics = calendar_of(message)
            assert ics is not None, f"no invitation for {to}"
            props = unfolded(ics)
            assert props["METHOD"] == ["REQUEST"]
            assert props["UID"] == [f"consult-{consult_id}@second-opinion"]
            assert props["DTSTART"] == [f"{START:%Y%m%d}T160000Z"]
            assert props["URL"] == [MEETING]
            assert props["ATTENDEE"] == [f"mailto:{to}"]
            assert "Amelia" not in ics and "Quinterofake" not in ics
        await eventually(lambda: mailed(staff_mail, "consult confirmed"), within=60)

        async def on_the_board() -> bool:
            found = await http.get(f"{urls['notify']}/cases/{CASE}/timeline", headers=journey.staff)
            detail = found.json()["waiting_on"]["detail"] if found.status_code == 200 else None
            return bool(detail == f"video consult on {START:%Y-%m-%d} 16:00 UTC")

        await eventually(on_the_board, within=60)

        cancelled = await http.post(
            f"{consults}/{consult_id}/cancel",
            json={"reason": "expert-unavailable"},
            headers=journey.staff,
        )
        assert cancelled.status_code == 200, cancelled.text
        withdrawn = await eventually(
            lambda: mailed(case.guardian.email, "Consulta cancelada", "Consult cancelled"),
            within=60,
        )
        ics = calendar_of(withdrawn)
        assert ics is not None
        props = unfolded(ics)
        assert (props["METHOD"], props["SEQUENCE"]) == (["CANCEL"], ["1"])
        assert props["UID"] == [f"consult-{consult_id}@second-opinion"]


async def look_at_the_consult_panel(web: str, staff_token: str) -> None:
    """The coordinator's consult panel in a real browser, phone and desktop: a screenshot and
    axe-core with nothing serious."""
    looked = Looked(SCREENSHOTS / "consult")
    async with chromium() as browser:
        for phone in (True, False):
            context = await person(browser, phone=phone, zone="Europe/Madrid")
            await context.add_cookies([{"name": "sop_session", "value": staff_token, "url": web}])
            page = await context.new_page()
            await page.goto(f"{web}/staff/cases/{CASE}#consults")
            await expect(page.locator("#consults")).to_contain_text("Video consult")
            await page.locator("#consults").scroll_into_view_if_needed()
            await looked.at(page, f"consult panel on a {'phone' if phone else 'desktop'}")
    assert looked.violations == {}
