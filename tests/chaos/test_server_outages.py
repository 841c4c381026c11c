"""Kafka and the database stopped and started again while cases flow: every service's /readyz
says so meanwhile, and afterwards every case has reached its stage exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx
import pytest

from deploy.local.run import API_SERVICES
from shared.bus import KafkaEventPublisher
from tests.chaos.conftest import CHAOS_SCALE, Platform, scaled
from tests.chaos.load import Load, every_case_once, run_cases_under

pytestmark = [pytest.mark.real, pytest.mark.timeout(int(900 * max(1.0, CHAOS_SCALE / 2)))]


async def test_restarted_broker_and_database_lose_and_duplicate_nothing(
    platform: Platform, publisher: KafkaEventPublisher
) -> None:
    not_ready: dict[str, set[str]] = {}  # server -> services whose /readyz named it meanwhile
    # The web front door uses neither server (it calls the services' APIs).
    servers_users = [name for name in platform.services if name in API_SERVICES]
    # server, seconds down (stopped until started again), seconds from started to all ready
    outages: list[tuple[str, float, float]] = []

    async def readiness(http: httpx.AsyncClient, name: str) -> dict[str, bool] | None:
        with contextlib.suppress(httpx.TransportError, ValueError):
            answer = await http.get(f"{platform.url(name)}/readyz")
            checks: dict[str, bool] = answer.json()["checks"]
            return checks if answer.status_code == 503 else {}
        return None

    async def outage(server: str, at_least: float) -> None:
        """Stop `server`; start it again once every service has reported it (or 40 s)."""
        began = time.monotonic()
        await asyncio.to_thread(platform.stop_server, server)
        seen = not_ready.setdefault(server, set())
        async with httpx.AsyncClient(timeout=5) as http:
            while time.monotonic() - began < 40:
                names = list(servers_users)
                answers = await asyncio.gather(*(readiness(http, n) for n in names))
                seen |= {
                    n
                    for n, checks in zip(names, answers, strict=True)
                    if checks and checks.get(server) is False
                }
                if seen == set(servers_users) and time.monotonic() - began >= at_least:
                    break
                await asyncio.sleep(0.5)
            await asyncio.to_thread(platform.start_server, server)
            back = time.monotonic()
            down = back - began
            while not all(
                checks == {}
                for checks in await asyncio.gather(*(readiness(http, n) for n in servers_users))
            ):
                assert time.monotonic() - back < 180, f"not ready again after {server}"
                await asyncio.sleep(0.5)
        outages.append((server, round(down, 1), round(time.monotonic() - back, 1)))

    async def chaos() -> None:
        for _ in range(max(1, int(CHAOS_SCALE // 4))):
            await asyncio.sleep(1.5)
            await outage("kafka", 6)
            await asyncio.sleep(2)
            await outage("mongo", 5)

    cases = [f"outage-{n:03d}" for n in range(scaled(5))]
    load = Load(cases, whole_way=set(cases[: 3 if CHAOS_SCALE < 2 else 6]))
    await run_cases_under(platform, publisher, load, chaos())
    outcome = await every_case_once(platform, load)
    print(
        f"\noutages (server, s down, s to ready): {outages}; cases {len(cases)} "
        f"({len(load.whole_way)} to a signed report, {len(load.unassigned)} tried but nobody "
        f"free); publish retries {load.publish_retries}; repeated records {outcome.repeated}; "
        f"dead letters {outcome.dead_letters}"
    )
    for server in ("kafka", "mongo"):
        assert not_ready[server] == set(servers_users), (server, not_ready)
