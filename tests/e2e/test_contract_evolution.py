"""Additive contract changes are compatible for real: today's services read events from a
newer producer (a hospital system, or a newer intake) that carry fields they do not know,
and neither dead-letter them nor lose the case."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bench.journey import HOSPITAL_TOPIC, Journey
from shared.bus import KafkaEventPublisher, OutgoingRecord
from shared.contracts import CASE_TOPICS
from shared.envelope import make_event
from shared.topics import dlq_topic
from tests.platform import Platform
from tests.support import eventually, sample_case
from tests.topic_reading import read_topic

pytestmark = pytest.mark.real


def newer(case_id: str, organization: str) -> bytes:
    """A case.submitted v1 as a newer producer writes it: one more optional field at the top
    and one inside the guardian, both unknown to today's readers."""
    case = sample_case(case_id, organization_id=organization, hospital_request_id=case_id)
    event = make_event(case, source="/hospitals/valley-pediatrics", subject=case_id)
    document: dict[str, Any] = event.model_dump(mode="json", exclude_none=True)
    document["data"]["care_pathway"] = "neuro-oncology"
    document["data"]["guardian"]["pronouns"] = "she/her"
    return httpx.Response(200, json=document).content


async def test_services_read_a_newer_producers_event_with_fields_they_do_not_know(
    platform: Platform, publisher: KafkaEventPublisher
) -> None:
    stack = platform.stack
    from_hospital, from_newer_intake = "evolve-hospital", "evolve-intake"
    await publisher.send_records(
        [
            OutgoingRecord(stack.topic(HOSPITAL_TOPIC), key.encode(), newer(key, "valley"), [])
            for key in [from_hospital]
        ]
        + [
            OutgoingRecord(stack.topic("case.submitted"), key.encode(), newer(key, "valley"), [])
            for key in [from_newer_intake]
        ]
    )
    async with httpx.AsyncClient(timeout=30) as http:
        urls = {name: platform.url(name) for name in platform.services}
        journey = Journey(urls, platform.issuer, http)
        for case_id in (from_hospital, from_newer_intake):
            # Records, assignment and notify each opened the case.
            for service, path in (
                ("records", f"/cases/{case_id}/checklist"),
                ("assignment", f"/cases/{case_id}"),
                ("notify", f"/cases/{case_id}/timeline"),
            ):

                async def opened(url: str = f"{urls[service]}{path}") -> bool:
                    return (await http.get(url, headers=journey.staff)).status_code == 200

                await eventually(opened, within=60)

    dead = []
    for topic in (*CASE_TOPICS, HOSPITAL_TOPIC):
        for record in await read_topic(stack, dlq_topic(stack.topic(topic))):
            if record.key in (from_hospital.encode(), from_newer_intake.encode()):
                dead.append((topic, dict(record.headers).get("dlq.reason")))
    assert dead == []
