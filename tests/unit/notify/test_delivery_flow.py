"""Handlers and dispatcher over fakes: one delivery per (event, recipient) however often an
event comes, retries on the schedule, a lost send recovered, a missing address waited for."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import cast

from services.notify.addresses import AddressBook
from services.notify.channels import InMemoryMailer
from services.notify.dispatcher import Dispatcher, DispatchPolicy
from services.notify.domain.deliveries import Outcome
from services.notify.emails import EmailRenderer
from services.notify.handlers import NotifyContext, on_case_event
from services.notify.links import Links
from services.notify.store import NotifyStore
from shared.auth import TokenIssuer
from shared.consumer import Delivery
from shared.contracts import RecordsReady, ReportIssued, decode_payload
from shared.contracts.records_ready import Completeness, IdentityCheck
from shared.envelope import CloudEvent, make_event
from tests.support import sample_case, sample_event
from tests.unit.notify.fakes import FakeNotifyStore

ISSUER = TokenIssuer.generate()


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


class NoWebhooks:
    async def post(self, *, url: str, secret: str, msg_id: str, body: bytes) -> Outcome:
        raise AssertionError("no webhook expected")


def setup(
    answers: list[Outcome] | None = None,
) -> tuple[FakeNotifyStore, NotifyContext, Dispatcher, InMemoryMailer, Clock]:
    fake = FakeNotifyStore()
    store = cast(NotifyStore, fake)
    clock = Clock()
    mailer = InMemoryMailer(answers=list(answers or []))
    dispatcher = Dispatcher(
        store=store,
        mailer=mailer,
        webhooks=NoWebhooks(),
        renderer=EmailRenderer(),
        links=Links(
            case_template="https://x.test/{case_id}",
            report_template="https://x.test/{case_id}/{report_id}?t={token}",
            staff_case_template="https://x.test/staff/{case_id}",
            expert_case_template="https://x.test/expert/{case_id}",
            expert_offers_link="https://x.test/expert/offers",
            issuer=ISSUER,
            ttl_s=3600,
        ),
        addresses=AddressBook(store=store, staff_email="staff@x.test"),
        sender="Team <no-reply@x.test>",
        policy=DispatchPolicy(
            email_schedule_s=[60, 600], webhook_schedule_s=[5], address_wait_s=300
        ),
        clock=clock,
    )
    ctx = NotifyContext(store=store, clock=clock, deliveries_queued=dispatcher.nudge)
    return fake, ctx, dispatcher, mailer, clock


def delivery(event: CloudEvent) -> Delivery:
    return Delivery(event, decode_payload(event), event.type, 0, 0)


def ready(case_id: str) -> CloudEvent:
    payload = RecordsReady(
        case_id=case_id,
        documents=[],
        studies=[],
        completeness=Completeness(required=["a"], present=["a"]),
        identity_check=IdentityCheck(status="match"),
    )
    return make_event(payload, source="/tests", subject=case_id)


async def run_all(dispatcher: Dispatcher) -> None:
    await dispatcher.dispatch_once()
    while dispatcher._tasks:
        await asyncio.gather(*list(dispatcher._tasks))
        await asyncio.sleep(0)  # let the done-callbacks run


async def test_a_redelivered_event_is_one_delivery_and_one_email() -> None:
    fake, ctx, dispatcher, mailer, _ = setup()
    event = sample_event("c1")
    for _ in range(3):
        await on_case_event(delivery(event), ctx=ctx)
    await run_all(dispatcher)
    await run_all(dispatcher)
    assert list(fake.deliveries) == [f"{event.id}:email:guardian"]
    assert [to for to, _ in mailer.sent] == ["rosa.parent@example.org"]
    assert fake.cases["c1"].event_count == 1


async def test_temporary_failures_follow_the_schedule_then_give_up() -> None:
    retry = Outcome("retry", "smtp_451")
    fake, ctx, dispatcher, mailer, clock = setup([retry, retry, retry])
    await on_case_event(delivery(sample_event("c2")), ctx=ctx)
    await run_all(dispatcher)
    (doc,) = fake.deliveries.values()
    assert doc["status"] == "pending" and doc["next_attempt_at"] == clock.now + timedelta(
        seconds=60
    )
    await run_all(dispatcher)  # not due yet
    assert doc["attempts"] == 1
    clock.now += timedelta(seconds=60)
    await run_all(dispatcher)
    assert doc["attempts"] == 2
    clock.now += timedelta(seconds=600)
    await run_all(dispatcher)
    assert doc["status"] == "gave-up" and doc["attempts"] == 3 and not mailer.sent


async def test_a_send_lost_with_its_process_is_tried_again_under_a_new_claim() -> None:
    fake, ctx, dispatcher, mailer, clock = setup()
    await on_case_event(delivery(sample_event("c3")), ctx=ctx)
    (doc,) = fake.deliveries.values()
    # A dispatcher claimed try 1 and died while sending.
    fake.claims.add(f"{doc['_id']}#1")
    doc.update(status="sending", attempts=1, lease_until=clock.now + timedelta(seconds=120))
    await run_all(dispatcher)
    assert not mailer.sent
    clock.now += timedelta(seconds=121)
    await run_all(dispatcher)
    await run_all(dispatcher)
    assert doc["status"] == "sent" and doc["attempts"] == 2
    assert [h["outcome"] for h in doc["history"]] == ["unknown", "sent"]


async def test_a_message_waits_for_an_address_that_comes_later() -> None:
    fake, ctx, dispatcher, mailer, clock = setup()
    # records.ready overtook case.submitted (another topic).
    await on_case_event(delivery(ready("c4")), ctx=ctx)
    await run_all(dispatcher)
    (doc,) = fake.deliveries.values()
    assert doc["status"] == "pending" and doc["attempts"] == 0
    await on_case_event(delivery(sample_event("c4")), ctx=ctx)
    clock.now += timedelta(seconds=5)
    await run_all(dispatcher)
    assert sorted(str(m["Subject"]) for _, m in mailer.sent)[1].startswith("Sus documentos")

    await on_case_event(delivery(ready("c5")), ctx=ctx)
    clock.now += timedelta(seconds=301)
    await run_all(dispatcher)
    skipped = [d for d in fake.deliveries.values() if d["case_id"] == "c5"]
    assert skipped[0]["status"] == "skipped"


async def test_old_events_rebuild_the_timeline_but_tell_nobody() -> None:
    fake, ctx, _, _, clock = setup()
    old = sample_event("c6").model_copy(update={"time": clock.now - timedelta(days=3)})
    await on_case_event(delivery(old), ctx=ctx)
    assert fake.cases["c6"].stage == "submitted"
    assert fake.deliveries == {}


def report_issued(case_id: str) -> CloudEvent:
    stored = {
        "bucket": "reports",
        "key": f"{case_id}/v1.pdf",
        "sha256": "0" * 64,
        "size_bytes": 10,
        "content_type": "application/pdf",
    }
    payload = ReportIssued.model_validate(
        {
            "case_id": case_id,
            "report_id": f"rpt-{case_id}",
            "version": 1,
            "concordance": "confirmed",
            "treatment_change": "none",
            "language": "fr",
            "html": {**stored, "content_type": "text/html"},
            "pdf": stored,
            "recipients": ["guardian", "referring-physician"],
            "issued_at": datetime(2026, 12, 4, 16, 0, tzinfo=UTC),
        }
    )
    return make_event(payload, source="/tests", subject=case_id)


async def test_each_person_reads_their_own_language_and_their_own_time_zone() -> None:
    _, ctx, dispatcher, mailer, clock = setup()
    clock.now = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)
    family = sample_case("c6").guardian.model_copy(
        update={"preferred_language": "fr-CA", "time_zone": "America/Montreal"}
    )
    physician = sample_case("c6").referring_physician.model_copy(
        update={"preferred_language": "es", "time_zone": "Europe/Madrid"}
    )
    submitted = sample_event("c6", guardian=family, referring_physician=physician)
    await on_case_event(delivery(submitted), ctx=ctx)
    await on_case_event(delivery(report_issued("c6")), ctx=ctx)
    await run_all(dispatcher)
    await run_all(dispatcher)  # one message per case at a time
    by_address = {
        to: m
        for to, m in mailer.sent
        if "rapport" in str(m["Subject"]) or "informe" in str(m["Subject"])
    }
    to_family = by_address["rosa.parent@example.org"]
    to_physician = by_address["lee@valley.example.org"]
    assert str(to_family["Subject"]).startswith("Votre rapport de deuxième avis est prêt")
    assert str(to_physician["Subject"]).startswith("Su informe de segunda opinión")
    # The link works for an hour (ttl_s=3600): 17:00 UTC, in each person's zone.
    assert "valable jusqu'au 2026-12-04 12:00 (America/Montreal)" in text_of(to_family)
    assert "válido hasta el 2026-12-04 18:00 (Europe/Madrid)" in text_of(to_physician)


async def test_a_physician_without_a_language_still_reads_english() -> None:
    _, ctx, dispatcher, mailer, _ = setup()
    await on_case_event(delivery(sample_event("c7")), ctx=ctx)
    await on_case_event(delivery(report_issued("c7")), ctx=ctx)
    await run_all(dispatcher)
    await run_all(dispatcher)
    subjects = {to: str(m["Subject"]) for to, m in mailer.sent}
    assert subjects["lee@valley.example.org"].startswith("Your second-opinion report is ready")


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())
