"""kill -9 services, one at a time and two at once, while cases flow: afterwards every case has
reached records-ready and assignment's first decision exactly once (none lost, none doubled)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Coroutine
from typing import Any

import httpx
import pytest

from shared.bus import KafkaEventPublisher
from shared.envelope import decode
from tests.chaos.conftest import CHAOS_SCALE, Platform, scaled
from tests.support import eventually, sample_event
from tests.topic_reading import read_topic

pytestmark = [pytest.mark.real, pytest.mark.timeout(900)]

DOCUMENTS = {
    "pathology-report": ("path.pdf", b"%PDF-1.7\n% pathology\n"),
    "treatment-records": ("plan.txt", b"Cycle 1: vincristine\n"),
    "current-medications": ("meds.txt", b"ondansetron 4 mg\n"),
}


async def until_done(call: object, *, within: float = 120) -> httpx.Response:
    """Retry one request while its service is down or restarting (a client's patience)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        with contextlib.suppress(httpx.TransportError):
            response: httpx.Response = await call()  # type: ignore[operator]
            if response.status_code < 500:
                return response
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the service did not come back")
        await asyncio.sleep(0.3)


async def drive_case(http: httpx.AsyncClient, platform: Platform, case_id: str) -> None:
    """What a family and the intake team do: send the records, waive the imaging."""
    base = f"{platform.url('records')}/cases/{case_id}"
    staff = platform.auth("intake-staff", "staff-1")

    async def checklist() -> bool:
        with contextlib.suppress(httpx.TransportError):
            return (await http.get(f"{base}/checklist", headers=staff)).status_code == 200
        return False

    await eventually(checklist, within=120)
    for kind, (name, content) in DOCUMENTS.items():
        sent = await until_done(
            lambda k=kind, n=name, c=content: http.post(
                f"{platform.url('records')}/cases/{case_id}/documents",
                data={"kind": k},
                files={"file": (n, c)},
                headers=staff,
            )
        )
        assert sent.status_code in (200, 201), sent.text
    waived = await until_done(
        lambda: http.post(
            f"{platform.url('records')}/cases/{case_id}/checklist/mri-imaging/waive",
            json={"reason": "imaging is on its way by courier"},
            headers=staff,
        )
    )
    assert waived.status_code == 200, waived.text


async def test_killed_services_lose_and_duplicate_nothing(
    platform: Platform, publisher: KafkaEventPublisher
) -> None:
    schedule = [("records",), ("assignment",), ("records", "assignment")]

    async def chaos() -> None:
        for names in schedule:
            await asyncio.sleep(1.5)
            for name in names:
                platform.kill(name)
            await asyncio.sleep(0.5)
            for name in names:
                await asyncio.to_thread(platform.restart, name)

    cases = [f"chaos-{n:03d}" for n in range(scaled(12))]
    await run_cases_under(platform, publisher, cases, chaos())
    await every_case_once(platform, cases)


@pytest.mark.skipif(
    CHAOS_SCALE < 2,
    reason="`make chaos` only for now: once in a fresh CI run the test's own idempotent producer "
    "never recovered from the broker restart (the services did); see the issue 6 note",
)
async def test_restarted_broker_and_database_lose_and_duplicate_nothing(
    platform: Platform, publisher: KafkaEventPublisher
) -> None:
    not_ready_seen: list[str] = []

    async def outage(server: str, seconds: float) -> None:
        await asyncio.to_thread(platform.stop_server, server)
        async with httpx.AsyncClient(timeout=5) as http:
            deadline = asyncio.get_running_loop().time() + seconds
            while asyncio.get_running_loop().time() < deadline:
                with contextlib.suppress(httpx.TransportError):
                    ready = await http.get(f"{platform.url('records')}/readyz")
                    if ready.status_code == 503:
                        not_ready_seen.append(server)
                await asyncio.sleep(0.5)
        await asyncio.to_thread(platform.start_server, server)

    async def chaos() -> None:
        await asyncio.sleep(1.5)
        await outage("kafka", 8)
        await asyncio.sleep(2)
        await outage("mongo", 6)

    cases = [f"outage-{n:03d}" for n in range(scaled(10))]
    await run_cases_under(platform, publisher, cases, chaos())
    await every_case_once(platform, cases)
    assert {"kafka", "mongo"} <= set(not_ready_seen)  # /readyz said so meanwhile


async def run_cases_under(
    platform: Platform,
    publisher: KafkaEventPublisher,
    cases: list[str],
    chaos: Coroutine[Any, Any, None],
) -> None:
    """Submit the cases a quarter of a second apart and drive each, while `chaos` runs."""

    async def load(http: httpx.AsyncClient) -> None:
        drivers = []
        for case_id in cases:
            await until_published(publisher, case_id)
            drivers.append(asyncio.create_task(drive_case(http, platform, case_id)))
            await asyncio.sleep(0.25)
        await asyncio.gather(*drivers)

    async with httpx.AsyncClient(timeout=30) as http:
        await asyncio.gather(load(http), chaos)


async def until_published(publisher: KafkaEventPublisher, case_id: str) -> None:
    """A hospital system retries (the same event) while the broker is away."""
    event = sample_event(case_id)
    for _ in range(240):
        try:
            await asyncio.wait_for(publisher.publish([event]), timeout=10)
            return
        except Exception:
            await asyncio.sleep(0.5)
    raise AssertionError(f"{case_id} could not be published")


async def every_case_once(platform: Platform, cases: list[str]) -> None:
    """Each case reached records.ready and assignment's first decision, each exactly once."""
    stack = platform.stack

    async def per_case(topic: str, changes: tuple[str, ...] = ()) -> dict[str, set[str]]:
        found: dict[str, set[str]] = defaultdict(set)
        for record in await read_topic(stack, stack.topic(topic)):
            event = decode(record.value)
            if not changes or event.data.get("change") in changes:
                found[event.subject].add(event.id)
        return found

    async def counts(topic: str, changes: tuple[str, ...] = ()) -> dict[str, int]:
        """Distinct event ids per case, waiting (a while) for every case to have one."""
        deadline = asyncio.get_running_loop().time() + 90
        while True:
            found = await per_case(topic, changes)
            result = {c: len(found.get(c, ())) for c in cases}
            if 0 not in result.values() or asyncio.get_running_loop().time() > deadline:
                return result
            await asyncio.sleep(1)

    ready = await counts("records.ready")
    # The first decision: an offer, or (the demo roster being small) "nobody is free", once.
    offered = await counts("assignment.updated", ("offered", "no-expert-available"))
    if ready != dict.fromkeys(cases, 1) or offered != dict.fromkeys(cases, 1):
        odd = [c for c in cases if ready[c] != 1 or offered[c] != 1]
        async with httpx.AsyncClient() as http:
            staff = platform.auth("intake-staff", "staff-1")
            states = {}
            for c in odd:
                checklist = await http.get(
                    f"{platform.url('records')}/cases/{c}/checklist", headers=staff
                )
                assignment = await http.get(
                    f"{platform.url('assignment')}/cases/{c}", headers=staff
                )
                states[c] = (checklist.json().get("missing"), assignment.text[:1500])
        raise AssertionError(f"records.ready {ready}; offered {offered}; the odd ones: {states}")
