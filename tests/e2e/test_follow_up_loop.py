"""The loop after the report, on the real stack: a family's follow-up question reaches the
expert and the intake team by email and opens the board's Follow-up column; the expert's
answer reaches the family; the program's limit on questions holds."""

from __future__ import annotations

import httpx
import pytest

from bench.journey import Journey
from shared.bus import KafkaEventPublisher
from tests.e2e.test_case_journey import MailSink, mail, text_of
from tests.platform import Platform
from tests.support import eventually, sample_case

pytestmark = pytest.mark.real
__all__ = ["mail"]  # fixture

CASE = "loop-1"


@pytest.fixture
def platform_env(mail: tuple[MailSink, int]) -> dict[str, str]:
    return {
        "NOTIFY_SMTP_HOST": "127.0.0.1",
        "NOTIFY_SMTP_PORT": str(mail[1]),
        "NOTIFY_EXPERT_EMAIL_TEMPLATE": "{expert_id}@experts.localhost",
        "REPORTS_FOLLOW_UP_PER_CASE": "2",
    }


async def test_a_follow_up_question_and_its_answer_reach_the_right_people(
    platform: Platform, publisher: KafkaEventPublisher, mail: tuple[MailSink, int]
) -> None:
    sink, _ = mail
    case = sample_case(CASE, organization_id="valley", hospital_request_id="VP-LOOP-1")
    async with httpx.AsyncClient(timeout=30) as http:
        urls = {name: platform.url(name) for name in platform.services}
        journey = Journey(urls, platform.issuer, http)
        await journey.submit_as_hospital(publisher, platform.stack, case)
        await journey.send_records(CASE)
        expert_id = await journey.accept_offer(CASE)
        await journey.write_and_sign(CASE, expert_id)
        family = journey.auth("guardian", "family-1", cases=(CASE,))
        follow_ups = f"{urls['reports']}/cases/{CASE}/report/follow-ups"

        asked = await http.post(follow_ups, json={"question": "Can she swim?"}, headers=family)
        assert asked.status_code == 201, asked.text
        (question,) = asked.json()["follow_ups"]

        def mailed(to: str, subject: str) -> str | None:
            for recipients, message in sink.messages:
                if to in recipients and subject in str(message["Subject"]):
                    return text_of(message)
            return None

        to_expert = await eventually(
            lambda: mailed(f"{expert_id}@experts.localhost", "follow-up question"), within=60
        )
        assert f"/expert/cases/{CASE}" in to_expert
        assert "Can she swim?" not in to_expert  # the question stays in the case
        await eventually(
            lambda: mailed("intake-team@second-opinion.localhost", "follow-up question"),
            within=60,
        )

        async def timeline(stage: str, open_questions: int) -> bool:
            found = await http.get(f"{urls['notify']}/cases/{CASE}/timeline", headers=journey.staff)
            body = found.json() if found.status_code == 200 else {}
            return (body.get("stage"), body.get("open_follow_ups")) == (stage, open_questions)

        await eventually(lambda: timeline("follow-up", 1), within=60)

        async def family_waits_for(open_questions: int) -> bool:
            found = await http.get(f"{urls['intake']}/cases/{CASE}/status", headers=family)
            return found.status_code == 200 and found.json()["open_follow_ups"] == open_questions

        await eventually(lambda: family_waits_for(1), within=60)  # the status page knows too

        expert = journey.auth("expert", expert_id)
        answer = await http.post(
            f"{follow_ups}/{question['follow_up_id']}/answer",
            json={"answer": "Yes, once the wound has healed."},
            headers=expert,
        )
        assert answer.status_code == 200, answer.text
        to_family = await eventually(
            lambda: (
                mailed(case.guardian.email, "has been answered")
                or mailed(case.guardian.email, "ha sido respondida")
            ),
            within=60,
        )
        assert "access_token=" in to_family and "wound" not in to_family
        await eventually(lambda: timeline("report-issued", 0), within=60)
        await eventually(lambda: family_waits_for(0), within=60)

        # The program answers two questions per case (REPORTS_FOLLOW_UP_PER_CASE).
        second = await http.post(follow_ups, json={"question": "School?"}, headers=family)
        assert second.status_code == 201, second.text
        third = await http.post(follow_ups, json={"question": "Sports?"}, headers=family)
        assert third.status_code == 409
        assert third.json()["error"]["code"] == "follow_up_limit"
        staff_close = await http.post(
            f"{follow_ups}/{second.json()['follow_ups'][1]['follow_up_id']}/close",
            json={"reason": "answered-elsewhere"},
            headers=journey.staff,
        )
        assert staff_close.status_code == 200, staff_close.text
        await eventually(
            lambda: (
                mailed(case.guardian.email, "About your follow-up")
                or mailed(case.guardian.email, "Sobre su pregunta")
            ),
            within=60,
        )
