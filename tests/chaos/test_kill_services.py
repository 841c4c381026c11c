"""kill -9 each service, one at a time and two at once, while cases flow: afterwards every case
has reached its stage exactly once (records ready, assignment's first decision, and for some an
accepted offer and a signed report): no case lost, no assignment, offer, email or report
version doubled."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from deploy.local.run import SERVICES
from shared.bus import KafkaEventPublisher
from tests.chaos.conftest import CHAOS_SCALE, Platform, scaled
from tests.chaos.load import Load, every_case_once, run_cases_under
from tests.integration.notify.conftest import MailSink, mail_sink

__all__ = ["mail_sink"]  # a fixture

pytestmark = [pytest.mark.real, pytest.mark.timeout(int(900 * max(1.0, CHAOS_SCALE / 2)))]


@pytest.fixture
def platform_env(mail_sink: tuple[MailSink, int]) -> dict[str, str]:
    return {
        "NOTIFY_SMTP_HOST": "127.0.0.1",
        "NOTIFY_SMTP_PORT": str(mail_sink[1]),
        "NOTIFY_EXPERT_EMAIL_TEMPLATE": "{expert_id}@experts.localhost",
    }


def schedule() -> list[tuple[str, ...]]:
    """`make test`: every service killed once, two at a time; `make chaos`: each alone, then
    in pairs."""
    pairs: list[tuple[str, ...]] = [
        ("notify", "reports"),
        ("intake", "audit"),
        ("records", "assignment"),
    ]
    if CHAOS_SCALE < 2:
        return pairs
    return [(name,) for name in SERVICES] + pairs + [("assignment", "notify")]


async def test_killed_services_lose_and_duplicate_nothing(
    platform: Platform, publisher: KafkaEventPublisher, mail_sink: tuple[MailSink, int]
) -> None:
    killed: Counter[str] = Counter()

    async def chaos() -> None:
        for names in schedule():
            await asyncio.sleep(1.5)
            for name in names:
                platform.kill(name)
                killed[name] += 1
            await asyncio.sleep(0.5)
            await asyncio.gather(*(asyncio.to_thread(platform.restart, name) for name in names))

    cases = [f"chaos-{n:03d}" for n in range(scaled(8))]
    load = Load(cases, whole_way=set(cases[: 3 if CHAOS_SCALE < 2 else 6]))
    await run_cases_under(platform, publisher, load, chaos())
    outcome = await every_case_once(platform, load)
    sink, _ = mail_sink
    ids = Counter(str(message["Message-ID"]) for _, message in sink.messages)
    resent = sum(n - 1 for n in ids.values())
    print(
        f"\ncases {len(cases)} ({len(load.whole_way)} to a signed report, {len(load.unassigned)} "
        f"tried but nobody free); killed {dict(killed)}; "
        f"emails {len(sink.messages)}, resent after a kill mid-send {resent}; "
        f"publish retries {load.publish_retries}; repeated records {outcome.repeated}; "
        f"dead letters {outcome.dead_letters}"
    )
    # Only a kill between the SMTP answer and recording it can resend (same Message-ID).
    assert resent <= killed["notify"], ids
