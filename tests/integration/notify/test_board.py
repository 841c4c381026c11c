"""The staff board over HTTP: sign-in by cookie, who may see it, what a card shows, and the
live stream with resume."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date

import httpx
import pytest

from tests.integration.notify import events
from tests.integration.notify.conftest import Notify, StartNotify
from tests.support import eventually

pytestmark = pytest.mark.real


@asynccontextmanager
async def signed_in(notify: Notify) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client that signed in through a link carrying a staff token."""
    async with httpx.AsyncClient(base_url=notify.url, timeout=10) as client:
        token = notify.issuer.issue(subject="staff-7", role="intake-staff")
        answer = await client.get("/board", params={"access_token": token})
        assert answer.status_code == 303 and answer.headers["location"] == "/board"
        cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/board" in cookie
        yield client


async def test_only_signed_in_staff_see_the_board(start_notify: StartNotify) -> None:
    async with start_notify() as notify:
        anonymous = await notify.client.get("/board")
        assert anonymous.status_code == 303 and anonymous.headers["location"] == "/board/login"
        assert (await notify.client.get("/board/events")).status_code == 401
        family = notify.issuer.issue(subject="g", role="guardian", case_ids=["x"])
        refused = await notify.client.post("/board/login", data={"token": family})
        assert refused.status_code == 401
        assert (await notify.client.get("/cases", headers=notify.auth("expert"))).status_code == 403
        # Admin (roster, partners) sees neither the board's cards nor a case's timeline.
        admin = notify.auth("admin")
        for path in ("/cases", "/cases/x/timeline", "/board/cases/x", "/board", "/board/events"):
            refused_admin = await notify.client.get(path, headers=admin)
            assert refused_admin.status_code == 403, path
            assert refused_admin.json()["error"]["code"] == "forbidden"
        async with signed_in(notify) as staff:
            page = await staff.get("/board")
            assert page.status_code == 200 and "Awaiting expert" in page.text


async def test_cards_show_initials_and_age_never_names(start_notify: StartNotify) -> None:
    async with start_notify() as notify:
        event = events.submitted_by(
            "board-1",
            given="<b>Zoë</b>",
            family="Marchetti",
            born=date(2019, 6, 1),
            urgency="urgent",
        )
        await notify.publish(event)
        await eventually(lambda: notify.has_seen("board-1", event.id))
        async with signed_in(notify) as staff:
            page = (await staff.get("/board")).text
            detail = (await staff.get("/board/cases/board-1")).text
        assert 'id="card-board-1"' in page and "Urgent" in page
        assert "&lt;.M." in page  # the initial of a hostile name, escaped
        for text in (page, detail):
            assert "Marchetti" not in text and "Zoë" not in text and "2019-06-01" not in text
            assert "rosa.parent" not in text and "Medulloblastoma" not in text
        assert "Request submitted" in detail


async def test_the_stream_sends_each_change_and_resumes_after_a_reconnect(
    start_notify: StartNotify,
) -> None:
    async with start_notify() as notify, signed_in(notify) as staff:
        frames: asyncio.Queue[dict[str, str]] = asyncio.Queue()

        async def listen(last_event_id: str | None = None) -> None:
            headers = {"last-event-id": last_event_id} if last_event_id else {}
            async with staff.stream("GET", "/board/events", headers=headers) as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                frame: dict[str, str] = {}
                async for line in response.aiter_lines():
                    if not line:
                        if "event" in frame:
                            await frames.put(frame)
                        frame = {}
                    elif not line.startswith(":"):
                        field, _, value = line.partition(": ")
                        frame[field] = value

        listener = asyncio.create_task(listen())
        await eventually(lambda: notify.service.ports.hub.subscriber_count == 1)
        await notify.publish(events.submitted("live-1"))
        first = await asyncio.wait_for(frames.get(), 20)
        assert first["event"] == "case" and '"case_id":"live-1"' in first["data"]
        assert '"stage":"submitted"' in first["data"]
        listener.cancel()
        await eventually(lambda: notify.service.ports.hub.subscriber_count == 0)

        # Changes while away are sent on reconnect, after the last id seen.
        ready = events.records_ready("live-1")
        await notify.publish(ready)
        await eventually(lambda: notify.has_seen("live-1", ready.id))
        listener = asyncio.create_task(listen(first["id"]))
        missed = await asyncio.wait_for(frames.get(), 20)
        assert '"stage":"awaiting-expert"' in missed["data"]
        listener.cancel()


async def test_an_expert_sees_only_the_cases_assigned_to_them(start_notify: StartNotify) -> None:
    async with start_notify() as notify:
        walks = {
            "exp-1": [events.submitted("exp-1"), events.assigned("exp-1", "ana")],
            "exp-2": [events.submitted("exp-2"), events.assigned("exp-2", "ben")],
        }
        for walk in walks.values():
            await notify.publish(*walk)
        for case_id, walk in walks.items():
            await eventually(lambda c=case_id, w=walk: notify.has_seen(c, *(e.id for e in w)))
        async with httpx.AsyncClient(base_url=notify.url, timeout=10) as ana:
            token = notify.issuer.issue(subject="ana", role="expert")
            assert (await ana.post("/board/login", data={"token": token})).status_code == 303
            page = (await ana.get("/board")).text
            assert 'id="card-exp-1"' in page and 'id="card-exp-2"' not in page
            assert (await ana.get("/board/cases/exp-1")).status_code == 200
            assert (await ana.get("/board/cases/exp-2")).status_code == 404


async def test_a_board_on_one_instance_shows_the_changes_another_instance_consumed(
    start_notify: StartNotify,
) -> None:
    """Two notify instances share the case topics' partitions; a browser connected to either
    sees every case's card (each change goes through `notify.board` to every instance)."""
    async with (
        start_notify(drop_database=False) as first,
        start_notify() as second,
        signed_in(second) as staff,
    ):
        # The group has split the partitions between the two instances.
        await eventually(
            lambda: first.service.runner.assignment and second.service.runner.assignment,
            within=60,
        )
        seen: set[str] = set()
        cases = {f"spread-{n}" for n in range(12)}

        async def listen() -> None:
            async with staff.stream("GET", "/board/events") as response:
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        seen.update(c for c in cases if f'"case_id":"{c}"' in line)

        listener = asyncio.create_task(listen())
        try:
            await eventually(lambda: second.service.ports.hub.subscriber_count == 1)
            await second.publish(*(events.submitted(case_id) for case_id in sorted(cases)))
            await eventually(lambda: seen == cases, within=30)
        finally:
            listener.cancel()
