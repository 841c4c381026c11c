"""Revoking a case's links, with the six services running as processes on the real stack: the
family's link works at intake and at records, intake staff revoke it, and within seconds both
services refuse it (`401 link_revoked`) while the link reissued with the revocation works."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import httpx
import pytest

from shared.bus import KafkaEventPublisher
from shared.contracts import AccessRevoked
from shared.contracts.common import Actor
from shared.envelope import CloudEvent, make_event
from shared.revocations import RevocationReader
from shared.settings import StackSettings
from tests.platform import Platform
from tests.support import eventually
from tests.unit.intake.samples import form

pytestmark = pytest.mark.real


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_revoked_link_is_refused_by_intake_and_by_records(platform: Platform) -> None:
    intake, records = platform.url("intake"), platform.url("records")
    async with httpx.AsyncClient(timeout=30) as http:
        submitted = await http.post(f"{intake}/cases", json=form())
        assert submitted.status_code == 201, submitted.text
        case_id, old = submitted.json()["case_id"], submitted.json()["link"]["token"]
        status = f"{intake}/cases/{case_id}/status"
        checklist = f"{records}/cases/{case_id}/checklist"

        async def answers(url: str, token: str) -> int:
            return (await http.get(url, headers=bearer(token))).status_code

        assert await answers(status, old) == 200

        async def records_has_the_case() -> bool:
            return await answers(checklist, old) == 200

        # Records opens the case when `case.submitted` reaches it.
        await eventually(records_has_the_case, within=30)

        revoked = await http.post(
            f"{intake}/cases/{case_id}/links/revoke",
            json={"reason": "sent-to-wrong-person", "reissue": "guardian"},
            headers=platform.auth("intake-staff", "staff-1"),
        )
        assert revoked.status_code == 200, revoked.text
        fresh = revoked.json()["link"]["token"]

        async def refused_everywhere() -> bool:
            for url in (status, checklist):
                answer = await http.get(url, headers=bearer(old))
                if answer.status_code != 401:
                    return False
                assert answer.json()["error"]["code"] == "link_revoked"
            return True

        # The outbox relay publishes it; every service's reader picks it up in well under 5 s.
        await eventually(refused_everywhere, within=5)
        assert await answers(status, fresh) == 200
        assert await answers(checklist, fresh) == 200
        # Staff tokens are never affected.
        staff = platform.auth("intake-staff", "staff-1")
        assert (await http.get(checklist, headers=staff)).status_code == 200


async def test_a_reader_started_later_knows_earlier_revocations_and_follows_new_ones(
    topics: StackSettings, publisher: KafkaEventPublisher
) -> None:
    def revoked(case_id: str, second: int) -> AccessRevoked:
        return AccessRevoked(
            case_id=case_id,
            not_before=datetime.fromtimestamp(second, UTC),
            reason="family-request",
            actor=Actor(subject="staff-1", role="intake-staff"),
        )

    def published(payload: AccessRevoked) -> list[CloudEvent]:
        return [make_event(payload, source="/tests", subject=payload.case_id)]

    await publisher.publish(published(revoked("early", 1_800_000_000)))
    # A service that (re)starts after the revocation knows it before it serves anything.
    reader = RevocationReader(topics)
    assert await reader.catch_up() == 1
    assert reader.revoked.loaded and reader.revoked.not_before("early") == 1_800_000_000
    stop = asyncio.Event()
    following = asyncio.create_task(reader.run(stop))
    try:
        await publisher.publish(published(revoked("late", 1_800_000_500)))
        await eventually(lambda: reader.revoked.not_before("late") == 1_800_000_500, within=5)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(following, 10)
