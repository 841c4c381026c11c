"""Erasure end to end (issue 14): a case runs to a signed report, the family asks for its
personal data to be erased, the intake team approves, and then no service can show the child's
name, birth date or the family's email or phone: not through its API, not in any collection
of any service's database, and no object of the case is left in any bucket. On Kafka the
case's events were sealed with its key all along, and the key is destroyed: a process that
starts afresh cannot read them, and a replay brings nothing back."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pytest
from minio import Minio
from pymongo import AsyncMongoClient

from bench.journey import Journey
from services.notify.rebuild import rebuild_from_outside
from shared.bus import KafkaEventPublisher
from shared.case_keys import SEALED_TYPES
from shared.contracts import CaseSubmitted
from shared.contracts.case_submitted import Guardian, Patient
from shared.mongo import Document, connect
from shared.settings import StackSettings
from shared.topics import HOSPITAL_TOPIC, platform_topics
from tests.platform import Platform
from tests.support import eventually, sample_case
from tests.topic_reading import opened, read_topic, sealed_events_on

pytestmark = pytest.mark.real

CASE = "erase-1"
SERVICES = ("intake", "records", "assignment", "reports", "notify", "audit")
BUCKETS = ("records", "reports")


def erasable_case() -> CaseSubmitted:
    """A child and family with details no other case of the run shares."""
    case = sample_case(CASE, organization_id="valley", hospital_request_id="VP-ERASE-0001")
    patient = Patient(
        given_name="Erasmina",
        family_name="Forgetsonfake",
        date_of_birth=date(2015, 2, 3),
        sex="female",
    )
    guardian = Guardian(
        name="Olvida Forgetsonfake",
        relationship="mother",
        email="olvida.forget@example.org",
        phone="+1 614 555 0177",
    )
    return case.model_copy(update={"patient": patient, "guardian": guardian})


def personal_details(case: CaseSubmitted) -> list[str]:
    return [
        case.patient.given_name,
        case.patient.family_name,
        case.patient.date_of_birth.isoformat(),
        case.guardian.name,
        case.guardian.email,
        case.guardian.phone,
    ]


async def test_an_erased_case_shows_no_personal_data_anywhere(
    platform: Platform, publisher: KafkaEventPublisher
) -> None:
    case = erasable_case()
    details = personal_details(case)
    urls = {name: platform.url(name) for name in platform.services}
    async with httpx.AsyncClient(timeout=30) as http:
        journey = Journey(urls, platform.issuer, http)
        await journey.submit_as_hospital(publisher, platform.stack, case)
        await journey.send_records(CASE)
        expert_id = await journey.accept_offer(CASE)
        signed = await journey.write_and_sign(CASE, expert_id)
        assert signed["version"] == 1
        expert = journey.auth("expert", expert_id)
        family = journey.auth("guardian", f"guardian-link:{CASE}", cases=(CASE,))
        staff = journey.staff

        async def report_issued() -> bool:
            found = await http.get(f"{urls['notify']}/cases/{CASE}/timeline", headers=staff)
            return found.status_code == 200 and found.json().get("stage") == "report-issued"

        await eventually(report_issued, within=60)
        before = await http.get(f"{urls['intake']}/cases/{CASE}", headers=staff)
        assert case.patient.family_name in before.text  # the scans below look for real things
        assert "intake.cases" in await documents_naming(platform, details)
        # On Kafka the details were never in clear: only the hospitals' own inbound topic
        # (kept a week) has them as the hospital wrote them.
        assert await topics_naming(platform.stack, details) == []

        asked = await http.post(f"{urls['intake']}/cases/{CASE}/erasure", headers=family)
        assert asked.status_code == 202, asked.text
        approved = await http.post(f"{urls['intake']}/cases/{CASE}/erasure/approve", headers=staff)
        assert approved.status_code == 200, approved.text

        gone = {
            "records checklist": (f"{urls['records']}/cases/{CASE}/checklist", staff),
            "reports report": (f"{urls['reports']}/cases/{CASE}/report", expert),
            "reports pdf": (f"{urls['reports']}/cases/{CASE}/report/latest/report.pdf", expert),
            "notify timeline": (f"{urls['notify']}/cases/{CASE}/timeline", staff),
        }

        async def every_service_forgot() -> dict[str, int] | None:
            codes = {}
            for name, (url, headers) in gone.items():
                codes[name] = (await http.get(url, headers=headers)).status_code
            return codes if all(code == 404 for code in codes.values()) else None

        await eventually(every_service_forgot, within=90)
        redacted = {
            "intake detail": (f"{urls['intake']}/cases/{CASE}", staff),
            "intake status": (f"{urls['intake']}/cases/{CASE}/status", family),
            "intake list": (f"{urls['intake']}/cases", staff),
            "notify board": (f"{urls['notify']}/cases", staff),
            "assignment": (f"{urls['assignment']}/cases/{CASE}", staff),
            "reports list": (f"{urls['reports']}/reports", expert),
        }
        for name, (url, headers) in redacted.items():
            answer = await http.get(url, headers=headers)
            assert answer.status_code in (200, 403, 404), (name, answer.status_code)
            assert [d for d in details if d in answer.text] == [], name

    async def stores_hold_nothing() -> bool:
        return not await documents_naming(platform, details)

    await eventually(stores_hold_nothing, within=60)
    assert objects_of_case(platform) == []

    # Crypto-shredding: the case's key has its tombstone, and a process that starts now (it
    # reads `case.keys` from the beginning) can open none of the case's events still on Kafka.
    stack = platform.stack

    async def key_destroyed() -> bool:
        mine = [r for r in await read_topic(stack, stack.topic("case.keys")) if r.key == b"erase-1"]
        return bool(mine) and mine[-1].value is None

    await eventually(key_destroyed, within=30)
    sealed = [e for t in sorted(SEALED_TYPES) for e in await sealed_events_on(stack, t, CASE)]
    assert sealed and all(e.sealed for e in sealed)
    assert {"case.submitted", "report.issued"} <= {e.type for e in sealed}
    assert await opened(stack, sealed) == []
    # A replay of every topic (notify's rebuild, as after a restore) brings nothing back.
    await rebuild_from_outside(stack)
    assert await documents_naming(platform, details) == []

    # Who did what is kept: the audit trail still names the approval, by role and subject.
    officer = platform.auth("compliance-officer", "officer-1")

    async def approval_on_trail() -> httpx.Response | None:
        async with httpx.AsyncClient(timeout=30) as http:
            found = await http.get(f"{urls['audit']}/audit/cases/{CASE}", headers=officer)
        routes = [r["route"] for r in found.json()["records"]]
        return found if any(r.endswith("/erasure/approve") for r in routes) else None

    trail = await eventually(approval_on_trail, within=60)
    approvals = [r for r in trail.json()["records"] if r["route"].endswith("/erasure/approve")]
    assert approvals[0]["agent"]["role"] == "intake-staff"
    assert [d for d in details if d in trail.text] == []


async def documents_naming(platform: Platform, details: list[str]) -> list[str]:
    """`service.collection` of every stored document that holds one of the details."""
    mongo: AsyncMongoClient[Document] = connect(platform.stack, app_name="erasure-test")
    found = []
    try:
        for service in SERVICES:
            db = mongo[platform.stack.database(service)]
            for name in await db.list_collection_names():
                async for doc in db[name].find({}):
                    text = repr(doc)
                    if any(d in text for d in details):
                        found.append(f"{service}.{name}")
    finally:
        await mongo.close()
    return found


async def topics_naming(stack: StackSettings, details: list[str]) -> list[str]:
    """Every platform topic whose raw bytes hold one of the details, but the hospitals' own
    inbound topic and its dead letters (written in clear by them, kept a week)."""
    found = []
    for spec in platform_topics(stack):
        if spec.name.startswith(stack.topic(HOSPITAL_TOPIC)):
            continue
        for record in await read_topic(stack, spec.name):
            if record.value and any(d.encode() in record.value for d in details):
                found.append(spec.name)
                break
    return found


def objects_of_case(platform: Platform) -> list[str]:
    stack = platform.stack
    client = Minio(
        stack.s3_endpoint,
        access_key=stack.s3_access_key.get_secret_value(),
        secret_key=stack.s3_secret_key.get_secret_value(),
        secure=stack.s3_secure,
    )
    left: list[Any] = []
    for service in BUCKETS:
        bucket = stack.bucket(service)
        if client.bucket_exists(bucket):
            listed = client.list_objects(bucket, recursive=True)
            left += [o.object_name for o in listed if CASE in (o.object_name or "")]
    return left
