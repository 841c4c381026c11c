"""Partner webhooks against a real HTTP receiver on loopback: signed, retried after a 500,
stopped after a 410, a 4xx not retried, a slow partner blocking nobody, partners isolated,
and replays on request."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from services.notify.domain.deliveries import verify
from tests.integration.notify import events
from tests.integration.notify.conftest import Notify, Receiver, StartNotify
from tests.support import eventually

pytestmark = pytest.mark.real


async def register(
    notify: Notify, receiver: Receiver, partner_id: str, organization: str = "org-valley"
) -> dict[str, Any]:
    answer = await notify.client.post(
        "/partners",
        json={
            "partner_id": partner_id,
            "name": f"Partner {partner_id}",
            "organization_id": organization,
            "url": f"{receiver.url}/{partner_id}",
            "event_types": ["report.issued"],
        },
        headers=notify.auth("admin"),
    )
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    assert created["secret"].startswith("whsec_")
    return created


async def partner_log(notify: Notify, partner_id: str, **claims: Any) -> list[dict[str, Any]]:
    headers = notify.auth(**claims) if claims else notify.auth("admin")
    answer = await notify.client.get(f"/partners/{partner_id}/deliveries", headers=headers)
    assert answer.status_code == 200, answer.text
    result: list[dict[str, Any]] = answer.json()
    return result


async def final(notify: Notify, partner_id: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        found = await partner_log(notify, partner_id)
        return found[0] if found and found[0]["status"] not in ("pending", "sending") else None

    # A liveness bound: earlier tests of the session leave this notify a backlog of their
    # own events (it reads the topics from the start), which it works through first.
    result: dict[str, Any] = await eventually(done, within=120)
    return result


def unique(prefix: str) -> str:
    """An organization or case of one test's own: the session's topics hold other tests'
    reports for the shared sample organization, which each notify here reads from the start
    and would deliver to these partners too."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_a_report_reaches_its_partner_signed_and_isolated(
    start_notify: StartNotify, receiver: Receiver
) -> None:
    organization, case_id = unique("org-hook"), unique("hook")
    async with start_notify() as notify:
        valley = await register(notify, receiver, "valley", organization=organization)
        await register(notify, receiver, "elsewhere", organization="org-elsewhere")
        report = events.issued(case_id)
        await notify.publish(events.submitted(case_id, organization_id=organization), report)
        delivery = await final(notify, "valley")
        assert delivery["status"] == "sent"

        (got,) = receiver.at("/valley")
        assert got.headers["webhook-id"] == delivery["delivery_id"]
        assert verify(
            secret=valley["secret"],
            msg_id=got.headers["webhook-id"],
            timestamp=int(got.headers["webhook-timestamp"]),
            body=got.body,
            header=got.headers["webhook-signature"],
            now=int(time.time()),
        )
        assert b'"type":"report.issued"' in got.body and report.id.encode() in got.body
        # Another organization's partner hears nothing of this case...
        assert receiver.at("/elsewhere") == []
        assert await partner_log(notify, "elsewhere") == []
        # ...and cannot read the other partner's log.
        mine = await notify.client.get(
            "/partners/valley/deliveries",
            headers=notify.auth("partner", organization="org-elsewhere"),
        )
        assert mine.status_code == 404
        own = await partner_log(notify, "valley", role="partner", organization=organization)
        assert [d["delivery_id"] for d in own] == [delivery["delivery_id"]]

        # Until staff share the case with it.
        answer = await notify.client.post(
            "/partners/elsewhere/shares", json={"case_id": case_id}, headers=notify.auth()
        )
        assert answer.status_code == 204
        await notify.publish(events.issued(case_id, version=2, amends=1))
        assert (await final(notify, "elsewhere"))["status"] == "sent"


async def test_retried_after_a_500_and_stopped_after_a_410_or_a_400(
    start_notify: StartNotify, receiver: Receiver
) -> None:
    organization, case_id = unique("org-hook"), unique("hook")
    async with start_notify() as notify:
        receiver.script = {"/flaky": [500, 503, 204], "/gone": [410], "/picky": [400]}
        for partner in ("flaky", "gone", "picky"):
            await register(notify, receiver, partner, organization=organization)
        await notify.publish(
            events.submitted(case_id, organization_id=organization), events.issued(case_id)
        )

        flaky = await final(notify, "flaky")
        assert flaky["status"] == "sent" and flaky["attempts"] == 3
        assert [h["code"] for h in flaky["history"]] == ["http_500", "http_503", "http_204"]
        ids = {r.headers["webhook-id"] for r in receiver.at("/flaky")}
        assert ids == {flaky["delivery_id"]}  # the same id on every try

        picky = await final(notify, "picky")
        assert picky["status"] == "failed" and picky["attempts"] == 1

        gone = await final(notify, "gone")
        assert gone["status"] == "failed" and gone["last_error"]["code"] == "http_410"
        partners = (await notify.client.get("/partners", headers=notify.auth("admin"))).json()
        assert {p["partner_id"]: p["status"] for p in partners}["gone"] == "disabled"
        await notify.publish(events.issued(case_id, version=2, amends=1))
        await eventually(lambda: len(receiver.at("/flaky")) == 4)
        assert len(receiver.at("/gone")) == 1  # a disabled endpoint gets nothing more


async def test_a_slow_partner_blocks_nobody_and_a_replay_resends(
    start_notify: StartNotify, receiver: Receiver
) -> None:
    organization, case_id = unique("org-hook"), unique("hook")
    async with start_notify(per_target_concurrency=1) as notify:
        receiver.script = {"/slow": ["slow"]}
        await register(notify, receiver, "slow", organization=organization)
        await register(notify, receiver, "quick", organization=organization)
        await notify.publish(events.submitted(case_id, organization_id=organization))
        for n in range(1, 4):
            await notify.publish(events.issued(case_id, version=n, amends=n - 1 or None))
        # Every report reaches the quick partner while the slow one is stuck on its first.
        await eventually(lambda: len(receiver.at("/quick")) == 3)
        quick = await partner_log(notify, "quick")
        assert {d["status"] for d in quick} == {"sent"}

        first = quick[-1]
        answer = await notify.client.post(
            f"/partners/quick/deliveries/{first['delivery_id']}/replay",
            headers=notify.auth("admin"),
        )
        assert answer.status_code == 200, answer.text
        await eventually(lambda: len(receiver.at("/quick")) == 4)
        assert receiver.at("/quick")[-1].headers["webhook-id"] == first["delivery_id"]

        slow = await eventually(lambda: _with_error(notify, "slow"), within=30)
        assert slow["last_error"]["code"] == "timeout"


async def _with_error(notify: Notify, partner_id: str) -> dict[str, Any] | None:
    for delivery in await partner_log(notify, partner_id):
        if delivery.get("last_error"):
            return delivery
    return None
