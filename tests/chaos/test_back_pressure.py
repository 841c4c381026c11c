"""A stalled partner webhook or a hung SMTP server never blocks the pipeline or other partners:
while both hang, the timeline (the staff board's data) keeps up with every event and the
partner that answers gets each delivery within seconds."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from tests.integration.notify import events
from tests.integration.notify.conftest import (
    Receiver,
    StartNotify,
    free_port,
    mail_sink,
    receiver,
    start_notify,
)
from tests.integration.notify.test_webhooks import partner_log, register
from tests.support import eventually

__all__ = ["mail_sink", "receiver", "start_notify"]  # fixtures

pytestmark = [pytest.mark.real, pytest.mark.timeout(300)]

HANG_S = 25.0  # longer than the test's patience (10 s + 10 s): nothing may wait for a hung peer


@pytest.fixture
async def hung_smtp() -> AsyncIterator[int]:
    """A mail server that accepts connections and then never says a word."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        with contextlib.suppress(Exception):
            await reader.read()  # until the client gives up

    port = free_port()
    server = await asyncio.start_server(hold, "127.0.0.1", port)
    try:
        yield port
    finally:
        server.close()
        for writer in held:
            writer.close()


async def test_a_hung_partner_and_a_hung_mail_server_block_nobody(
    start_notify: StartNotify, receiver: Receiver, hung_smtp: int
) -> None:
    cases = [f"pressure-{n}" for n in range(6)]
    settings = {
        "smtp_port": hung_smtp,
        "smtp_timeout_s": HANG_S,
        "webhook_timeout_s": HANG_S,
        "per_target_concurrency": 1,
    }
    async with start_notify(**settings) as notify:
        receiver.script = {"/stalled": ["slow"]}  # answers after 30 s, i.e. never in time
        await register(notify, receiver, "stalled")
        await register(notify, receiver, "quick")
        for case_id in cases:
            await notify.publish(
                events.submitted(case_id), events.records_ready(case_id), events.issued(case_id)
            )

        async def every_timeline_issued() -> bool:
            stages = [(await notify.timeline(c) or {}).get("stage") for c in cases]
            return all(stage == "report-issued" for stage in stages)

        await eventually(every_timeline_issued, within=10, interval=0.2)
        await eventually(lambda: len(receiver.at("/quick")) == len(cases), within=10)

        # Both really hung meanwhile, and no try of theirs had even timed out yet: nothing
        # the quick partner got waited for a hung peer to give up.
        emails = await notify.deliveries(channel="email")
        assert emails and not [d for d in emails if d["history"]]
        assert not [d for d in await partner_log(notify, "stalled") if d["history"]]
        assert receiver.at("/stalled") == []
        assert {d["status"] for d in await partner_log(notify, "quick")} == {"sent"}
