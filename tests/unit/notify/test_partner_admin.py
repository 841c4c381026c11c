"""An admin manages partner feeds over the API (in-memory store, a real dispatcher, a fake
webhook sender): disable, rotate the signing secret, delete; nobody else may."""

from __future__ import annotations

import asyncio
import json as jsonlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
import pytest

from services.notify.addresses import AddressBook
from services.notify.api import create_app
from services.notify.board_view import BoardRenderer
from services.notify.channels import InMemoryMailer
from services.notify.config import NotifySettings
from services.notify.deps import NotifyPorts
from services.notify.dispatcher import Dispatcher, DispatchPolicy
from services.notify.domain.deliveries import Outcome
from services.notify.emails import EmailRenderer
from services.notify.handlers import NotifyContext, on_case_event
from services.notify.hub import BoardHub
from services.notify.links import Links
from services.notify.partner_links import PartnerReportLinks
from services.notify.store import NotifyStore
from shared.auth import Role, TokenIssuer, TokenVerifier
from shared.consumer import Delivery
from shared.contracts import ReportIssued, decode_payload
from shared.contracts.report_issued import StoredObject
from shared.envelope import CloudEvent, make_event
from tests.support import sample_event
from tests.unit.notify.fakes import FakeNotifyStore

ROUTES = [
    ("POST", "/partners/{}/disable", {"reason": "contract ended"}),
    ("POST", "/partners/{}/secret", None),
    ("DELETE", "/partners/{}", None),
]


@dataclass
class Posted:
    url: str
    secret: str
    msg_id: str
    body: bytes = b""


@dataclass
class PartnerEndpoints:
    """Fake webhook sender: keeps what was posted with which secret, answers as told."""

    posted: list[Posted] = field(default_factory=list)
    answers: list[Outcome] = field(default_factory=list)

    async def post(self, *, url: str, secret: str, msg_id: str, body: bytes) -> Outcome:
        self.posted.append(Posted(url, secret, msg_id, body))
        return self.answers.pop(0) if self.answers else Outcome("sent", "http_204")


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class FastNotify:
    client: httpx.AsyncClient
    store: FakeNotifyStore
    ctx: NotifyContext
    dispatcher: Dispatcher
    endpoints: PartnerEndpoints
    clock: Clock
    issuer: TokenIssuer

    def auth(self, role: Role = "admin") -> dict[str, str]:
        return {"authorization": f"Bearer {self.issuer.issue(subject=f'{role}-1', role=role)}"}

    async def register(self, partner_id: str, organization: str = "org-valley") -> str:
        answer = await self.client.post(
            "/partners",
            json={
                "partner_id": partner_id,
                "name": f"Partner {partner_id}",
                "organization_id": organization,
                "url": f"https://{partner_id}.test/hooks",
                "event_types": ["report.issued"],
            },
            headers=self.auth(),
        )
        assert answer.status_code == 201, answer.text
        secret: str = answer.json()["secret"]
        return secret

    async def consume(self, *events: CloudEvent) -> None:
        for event in events:
            await on_case_event(
                Delivery(event, decode_payload(event), event.type, 0, 0), ctx=self.ctx
            )

    async def dispatch(self) -> None:
        await self.dispatcher.dispatch_once()
        while self.dispatcher._tasks:
            await asyncio.gather(*list(self.dispatcher._tasks))
            await asyncio.sleep(0)  # let the done-callbacks run

    async def partners(self) -> dict[str, dict[str, Any]]:
        answer = await self.client.get("/partners", headers=self.auth())
        assert answer.status_code == 200, answer.text
        return {p["partner_id"]: p for p in answer.json()}

    def webhooks(self) -> list[dict[str, Any]]:
        return [d for d in self.store.deliveries.values() if d["channel"] == "webhook"]


@pytest.fixture
async def notify(issuer: TokenIssuer, verifier: TokenVerifier) -> AsyncIterator[FastNotify]:
    fake = FakeNotifyStore()
    store = cast(NotifyStore, fake)
    clock = Clock()
    endpoints = PartnerEndpoints()
    dispatcher = Dispatcher(
        store=store,
        mailer=InMemoryMailer(),
        webhooks=endpoints,
        renderer=EmailRenderer(),
        links=Links(
            case_template="https://x.test/{case_id}",
            report_template="https://x.test/{case_id}#report",
            staff_case_template="https://x.test/staff/{case_id}",
            expert_case_template="https://x.test/expert/{case_id}",
            expert_offers_link="https://x.test/expert/offers",
            issuer=issuer,
            ttl_s=3600,
        ),
        addresses=AddressBook(store=store, staff_email="staff@x.test"),
        sender="Team <no-reply@x.test>",
        policy=DispatchPolicy(email_schedule_s=[60], webhook_schedule_s=[5, 300]),
        report_links=PartnerReportLinks("https://reports.test/", issuer, 3600),
        clock=clock,
    )
    ctx = NotifyContext(store=store, clock=clock)
    ports = NotifyPorts(
        ctx=ctx,
        store=store,
        hub=BoardHub(),
        dispatcher=dispatcher,
        board=BoardRenderer(),
        settings=NotifySettings(),
        verifier=verifier,
    )
    transport = httpx.ASGITransport(app=create_app(ports, readiness={}))
    async with httpx.AsyncClient(transport=transport, base_url="http://notify.test") as client:
        yield FastNotify(client, fake, ctx, dispatcher, endpoints, clock, issuer)


def issued(case_id: str, version: int = 1) -> CloudEvent:
    def stored(kind: str) -> StoredObject:
        return StoredObject(
            bucket="reports",
            key=f"{case_id}/v{version}.{kind}",
            sha256="0" * 64,
            size_bytes=1000,
            content_type="application/pdf" if kind == "pdf" else "text/html",
        )

    payload = ReportIssued(
        case_id=case_id,
        report_id=f"rep-{case_id}",
        version=version,
        amends_version=version - 1 or None,
        concordance="refined",
        treatment_change="modified",
        language="en",
        html=stored("html"),
        pdf=stored("pdf"),
        recipients=["guardian"],
        issued_at=datetime.now(UTC),
    )
    return make_event(payload, source="/tests/reports", subject=case_id)


def submitted(case_id: str) -> CloudEvent:
    return sample_event(case_id, organization_id="org-valley")


async def test_only_admins_manage_partners_and_an_unknown_one_is_not_found(
    notify: FastNotify,
) -> None:
    await notify.register("valley")
    for method, path, body in ROUTES:
        url = path.format("valley")
        # Who is asking comes first: without a token, or as staff, even a bodiless call is
        # refused before its body is looked at.
        for json in (body, None):
            anonymous = await notify.client.request(method, url, json=json)
            assert anonymous.status_code == 401, (method, path)
            staff = await notify.client.request(
                method, url, json=json, headers=notify.auth("intake-staff")
            )
            assert staff.status_code == 403, (method, path)
            assert staff.json()["error"]["code"] == "forbidden"
        unknown = await notify.client.request(
            method, path.format("nobody"), json=body, headers=notify.auth()
        )
        assert unknown.status_code == 404, (method, path)
        assert unknown.json() == {
            "error": {"code": "not_found", "message": "no partner nobody", "field": "partner_id"}
        }
    # Nothing the refused calls asked for happened.
    assert (await notify.partners())["valley"]["status"] == "active"


async def test_a_disabled_partner_gets_no_delivery_until_enabled(notify: FastNotify) -> None:
    await notify.register("valley")
    await notify.consume(submitted("c1"), issued("c1"))
    (pending,) = notify.webhooks()

    answer = await notify.client.post(
        "/partners/valley/disable", json={"reason": "contract ended"}, headers=notify.auth()
    )
    assert answer.status_code == 200, answer.text
    shown = answer.json()
    assert shown["status"] == "disabled" and shown["disabled_reason"] == "contract ended"
    assert "secret" not in shown
    assert (await notify.partners())["valley"]["disabled_reason"] == "contract ended"

    # A new report plans nothing for it; the one already due is not sent at its turn.
    await notify.consume(issued("c1", version=2))
    assert notify.webhooks() == [pending]
    await notify.dispatch()
    assert notify.endpoints.posted == []
    assert pending["status"] == "failed" and pending["last_error"]["code"] == "partner_inactive"

    answer = await notify.client.post("/partners/valley/enable", headers=notify.auth())
    assert answer.json()["status"] == "active" and answer.json()["disabled_reason"] is None
    await notify.consume(issued("c1", version=3))
    await notify.dispatch()
    assert len(notify.endpoints.posted) == 1


@pytest.mark.parametrize("body", [None, {}, {"reason": "  "}, {"reason": "x" * 201}])
async def test_a_disable_says_why(notify: FastNotify, body: dict[str, str] | None) -> None:
    await notify.register("valley")
    answer = await notify.client.post("/partners/valley/disable", json=body, headers=notify.auth())
    assert answer.status_code == 422
    assert (await notify.partners())["valley"]["status"] == "active"


async def test_a_new_secret_signs_the_next_try_of_every_delivery(notify: FastNotify) -> None:
    old = await notify.register("valley")
    notify.endpoints.answers = [Outcome("retry", "http_503")]
    await notify.consume(submitted("c2"), issued("c2"))
    await notify.dispatch()
    (first,) = notify.endpoints.posted
    assert first.secret == old

    answer = await notify.client.post("/partners/valley/secret", headers=notify.auth())
    assert answer.status_code == 200, answer.text
    rotated = answer.json()
    new = rotated["secret"]
    assert rotated["partner_id"] == "valley" and new.startswith("whsec_") and new != old
    assert all("secret" not in p for p in (await notify.partners()).values())

    # The retry of the delivery made before, and a new delivery, both use the new secret.
    notify.clock.now += timedelta(seconds=5)
    await notify.consume(issued("c2", version=2))
    await notify.dispatch()
    retried, fresh = notify.endpoints.posted[1:]
    assert {retried.msg_id, fresh.msg_id} == {d["_id"] for d in notify.webhooks()}
    assert retried.secret == fresh.secret == new
    assert {d["status"] for d in notify.webhooks()} == {"sent"}


async def test_a_deleted_partner_is_gone_its_log_kept_and_its_id_free(
    notify: FastNotify,
) -> None:
    await notify.register("valley")
    await notify.register("other", organization="org-other")
    staff = notify.auth("intake-staff")
    shared = await notify.client.post(
        "/partners/valley/shares", json={"case_id": "c3"}, headers=staff
    )
    assert shared.status_code == 204
    await notify.consume(submitted("c3"), issued("c3"))
    await notify.dispatch()
    (sent,) = notify.webhooks()
    await notify.consume(issued("c3", version=2))
    pending = next(d for d in notify.webhooks() if d["status"] == "pending")

    answer = await notify.client.delete("/partners/valley", headers=notify.auth())
    assert answer.status_code == 204 and answer.content == b""
    assert list(await notify.partners()) == ["other"]
    assert notify.store.shares == set()
    # Its pending delivery is skipped and never sent; the log keeps both for the audit.
    await notify.dispatch()
    assert len(notify.endpoints.posted) == 1
    assert pending["status"] == "skipped" and pending["last_error"]["code"] == "partner_removed"
    assert pending["history"][-1]["outcome"] == "skipped"
    log = await notify.client.get("/deliveries", params={"channel": "webhook"}, headers=staff)
    assert {d["delivery_id"]: d["status"] for d in log.json()} == {
        sent["_id"]: "sent",
        pending["_id"]: "skipped",
    }
    again = await notify.client.delete("/partners/valley", headers=notify.auth())
    assert again.status_code == 404

    # The id can be registered again: the new registration starts with no log and no shares.
    await notify.register("valley", organization="org-other")
    answer = await notify.client.get("/partners/valley/deliveries", headers=notify.auth())
    assert answer.status_code == 200 and answer.json() == []
    replay = await notify.client.post(
        f"/partners/valley/deliveries/{sent['_id']}/replay", headers=notify.auth()
    )
    assert replay.status_code == 404
    await notify.consume(issued("c3", version=3))
    assert len(notify.webhooks()) == 2  # c3 belongs to org-valley and is not shared any more


async def test_a_report_webhook_carries_urls_and_a_token_for_that_case_alone(
    notify: FastNotify, verifier: TokenVerifier
) -> None:
    """Storage keys are useless to a partner: the POST names the reports API's URLs for the
    version and a partner token scoped to the one case; the stored body keeps no token."""
    await notify.register("valley")
    await notify.consume(submitted("c-links"), issued("c-links", version=2))
    await notify.dispatch()
    (posted,) = notify.endpoints.posted
    event = jsonlib.loads(posted.body)
    version_url = "https://reports.test/cases/c-links/report/versions/2"
    assert event["reportpdfurl"] == f"{version_url}/report.pdf"
    assert event["reporthtmlurl"] == f"{version_url}/report.html"
    assert event["reportfhirurl"] == "https://reports.test/fhir/DiagnosticReport/rep-c-links"
    assert event["reporttokenexpires"] > notify.clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert event["data"]["case_id"] == "c-links"  # the CloudEvent itself is unchanged
    principal = verifier.verify(event["reporttoken"])
    assert (principal.role, principal.subject) == ("partner", "valley")
    assert principal.case_ids == {"c-links"} and principal.organization == "org-valley"
    (stored,) = notify.webhooks()
    assert "reporttoken" not in stored["body"]
