"""kill -9 each service, one at a time and two at once, while cases flow: afterwards every case
has reached its stage exactly once (records ready, assignment's first decision, and for some an
accepted offer and a signed report): no case lost, no assignment, offer, email or report
version doubled."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

import httpx
import pytest

from deploy.local.run import SERVICES
from shared.bus import KafkaEventPublisher
from shared.contracts import AUDIT_TOPIC
from shared.envelope import decode
from tests.chaos.conftest import CHAOS_SCALE, Platform, scaled
from tests.chaos.load import Load, every_case_once, run_cases_under
from tests.integration.notify.conftest import MailSink, mail_sink
from tests.support import eventually
from tests.topic_reading import read_topic

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


# Where the audited load goes: a family's link asking for another case, refused before any
# read (so cheap that many are answered around the kill) and audited under the case asked for.
AUDITED = {
    "intake": "/cases/{case_id}/status",
    "records": "/cases/{case_id}/checklist",
    "assignment": "/cases/{case_id}",
    "reports": "/cases/{case_id}/report",
    "notify": "/cases/{case_id}/timeline",
    "audit": "/audit/cases/{case_id}",
}


async def test_every_answered_request_is_on_the_audit_trail_after_a_kill_9(
    platform: Platform,
) -> None:
    """Many concurrent audited requests, each naming a case of its own; SIGKILL of every service
    answering them, twice with the broker up and once while it is away (records wait longest
    then); restart: every request that got an answer is on `audit.access`."""
    answered: set[str] = set()
    statuses: Counter[str] = Counter()
    done = asyncio.Event()

    async def client(http: httpx.AsyncClient, worker: int) -> None:
        headers = platform.auth("guardian", f"family-{worker}", case_ids=("audit-kill-home",))
        n = 0
        while not done.is_set():
            n += 1
            service = list(AUDITED)[n % len(AUDITED)]
            case_id = f"audit-kill-{worker}-{n}"
            url = platform.url(service) + AUDITED[service].format(case_id=case_id)
            try:
                status = (await http.get(url, headers=headers)).status_code
            except httpx.TransportError:
                statuses["no answer"] += 1
                await asyncio.sleep(0.05)  # the service is down: do not spin
                continue
            statuses[str(status)] += 1
            if status in (403, 404):
                answered.add(case_id)

    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(timeout=10, limits=limits) as http:
        workers = [asyncio.create_task(client(http, w)) for w in range(48)]
        for broker_away in (False, False, True):
            if broker_away:
                await asyncio.to_thread(platform.stop_server, "kafka")
            await asyncio.sleep(3)  # load at full speed
            for name in AUDITED:
                platform.kill(name)
            if broker_away:
                await asyncio.to_thread(platform.start_server, "kafka")
            await asyncio.gather(*(asyncio.to_thread(platform.restart, n) for n in AUDITED))
        done.set()
        await asyncio.gather(*workers)

    recorded: set[str] = set()

    async def all_recorded() -> bool:
        records = await read_topic(platform.stack, platform.stack.topic(AUDIT_TOPIC))
        recorded.update(decode(r.value).subject for r in records)
        return answered <= recorded

    with contextlib.suppress(AssertionError):
        await eventually(all_recorded, within=60, interval=1)
    missing = answered - recorded
    print(
        f"\nanswers {dict(statuses)}; answered {len(answered)}, on audit.access "
        f"{len(answered & recorded)}, answered but missing {len(missing)}"
    )
    assert answered and not missing, sorted(missing)[:20]
