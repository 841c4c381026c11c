"""Offers end to end: records.ready → offer → accept → expert.assigned on Kafka; declines and
time-outs move to the next best; redelivery and concurrent accepts change nothing twice."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.assignment.conftest import StartAssignment, records_ready
from tests.support import eventually, sample_event

pytestmark = pytest.mark.real


async def test_the_best_expert_is_offered_the_case_and_accepting_publishes_expert_assigned(
    start_assignment: StartAssignment,
) -> None:
    async with start_assignment() as svc:
        ready = records_ready("case-a")
        await svc.publish(sample_event("case-a"), ready)
        offer_id = await svc.offered_to("case-a", "ana")

        offered = svc.log.of("case-a")[0].data
        assert offered["offer_expires_at"] and offered["due_at"]
        assert "diagnosis fits: medulloblastoma" in offered["reasons"]
        assert "excluded 1: same institution as the referring physician" in offered["reasons"]

        accepted = await svc.client.post(
            f"/offers/{offer_id}/accept", headers=svc.auth("ana", "expert")
        )
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["status"] == "accepted"
        (assigned,) = await eventually(lambda: svc.log.of("case-a", "expert.assigned"))
        assert assigned.data["lead"]["expert_id"] == "ana"
        assert assigned.data["urgency"] == "routine"
        assert assigned.data["due_at"] == offered["due_at"]

        case = (await svc.client.get("/cases/case-a", headers=svc.staff)).json()
        assert case["stage"] == "assigned"
        assert case["assignment"]["lead"]["expert_id"] == "ana"
        assert case["service_level"]["state"] == "on-track"
        assert "ranked 1 of 3 eligible" in case["reasons"]


async def test_a_redelivered_records_ready_creates_no_second_offer(
    start_assignment: StartAssignment,
) -> None:
    async with start_assignment() as svc:
        ready = records_ready("case-r")
        await svc.publish(sample_event("case-r"), ready)
        await svc.offered_to("case-r", "ana")

        # The same event again, then a marker behind it on the same partition.
        marker = records_ready("case-r")
        await svc.publish(ready, marker)
        await eventually(lambda: svc.applied("case-r", marker.id))

        record = await svc.store.get_case("case-r")
        assert record is not None and len(record.offers) == 1
        assert (await svc.applied_ids("case-r")).count(ready.id) == 1
        assert svc.log.changes("case-r") == [("offered", "ana")]


async def test_declines_go_to_the_next_best_until_nobody_is_left(
    start_assignment: StartAssignment,
) -> None:
    async with start_assignment() as svc:
        await svc.publish(sample_event("case-d"), records_ready("case-d"))
        for expert in ("ana", "ben", "cruz"):
            offer_id = await svc.offered_to("case-d", expert)
            declined = await svc.client.post(
                f"/offers/{offer_id}/decline",
                json={"reason": "away at a conference"},
                headers=svc.auth(expert, "expert"),
            )
            assert declined.status_code == 200, declined.text

        await eventually(lambda: ("no-expert-available", None) in svc.log.changes("case-d"))
        assert svc.log.changes("case-d") == [
            ("offered", "ana"),
            ("declined", "ana"),
            ("offered", "ben"),
            ("declined", "ben"),
            ("offered", "cruz"),
            ("declined", "cruz"),
            ("no-expert-available", None),
        ]
        nobody = svc.log.of("case-d")[-1].data["reasons"]
        assert "excluded 3: declined or did not answer" in nobody
        listed = (await svc.client.get("/cases?stage=unassigned", headers=svc.staff)).json()
        assert [c["case_id"] for c in listed] == ["case-d"]


async def test_an_unanswered_offer_times_out_to_the_next_best(
    start_assignment: StartAssignment,
) -> None:
    async with start_assignment(offer_timeout_s=0.6) as svc:
        await svc.publish(sample_event("case-t"), records_ready("case-t"))
        await eventually(lambda: ("no-expert-available", None) in svc.log.changes("case-t"))
        assert svc.log.changes("case-t") == [
            ("offered", "ana"),
            ("offer-expired", "ana"),
            ("offered", "ben"),
            ("offer-expired", "ben"),
            ("offered", "cruz"),
            ("offer-expired", "cruz"),
            ("no-expert-available", None),
        ]
        offers = (
            await svc.client.get("/offers?mine=true", headers=svc.auth("ben", "expert"))
        ).json()
        assert [o["status"] for o in offers] == ["expired"]


async def test_concurrent_accepts_assign_the_case_once(
    start_assignment: StartAssignment,
) -> None:
    """Three accepts at once (a double click and a retry): each is answered as accepted, and
    the case is assigned once."""
    async with start_assignment() as svc:
        await svc.publish(sample_event("case-c"), records_ready("case-c"))
        offer_id = await svc.offered_to("case-c", "ana")
        headers = svc.auth("ana", "expert")
        answers = await asyncio.gather(
            *(svc.client.post(f"/offers/{offer_id}/accept", headers=headers) for _ in range(3))
        )
        assert [a.status_code for a in answers] == [200] * 3
        assert {a.json()["status"] for a in answers} == {"accepted"}
        await eventually(lambda: svc.log.of("case-c", "expert.assigned"))
        record = await svc.store.get_case("case-c")
        assert record is not None and record.stage == "assigned"
        assert len(svc.log.of("case-c", "expert.assigned")) == 1


async def test_offers_are_listed_newest_first_across_cases(
    start_assignment: StartAssignment,
) -> None:
    """The list is paged by when offers were made, not by case id."""
    async with start_assignment() as svc:
        await svc.publish(sample_event("case-a"), records_ready("case-a"))
        await eventually(lambda: svc.log.of("case-a"))
        await svc.publish(sample_event("case-b"), records_ready("case-b"))
        await eventually(lambda: svc.log.of("case-b"))

        newest = (await svc.client.get("/offers?limit=1", headers=svc.staff)).json()
        assert [o["case_id"] for o in newest] == ["case-b"]
        both = (await svc.client.get("/offers", headers=svc.staff)).json()
        assert [o["case_id"] for o in both] == ["case-b", "case-a"]
