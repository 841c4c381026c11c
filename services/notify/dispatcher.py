"""The dispatcher: sends due deliveries (emails and webhooks) and records how each try went.

Each target (the mail relay, or one partner) has its own small number of slots, so a slow or
unreachable partner only ever waits on itself. A try is claimed insert-first (`attempts`), so
two dispatchers never send the same try; a try whose process died mid-send is noticed when
its lease runs out and is tried again (the Message-ID / webhook-id stay the same, so the
receiver can drop the repeat).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from services.notify.addresses import AddressBook
from services.notify.channels import Mailer, WebhookSender
from services.notify.domain.deliveries import Outcome, next_attempt
from services.notify.domain.invitations import Invitation, calendar_text
from services.notify.emails import EmailRenderer, build_message
from services.notify.links import Links
from services.notify.metrics import DELIVERY_ATTEMPTS
from services.notify.partner_links import PartnerReportLinks
from services.notify.store import NotifyStore
from shared.mongo import Document
from shared.tracing import continued

log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class DispatchPolicy:
    email_schedule_s: Sequence[float]
    webhook_schedule_s: Sequence[float]
    per_target: int = 2
    total: int = 32
    interval_s: float = 1.0
    lease_s: float = 120.0
    address_wait_s: float = 3600.0
    address_poll_s: float = 2.0


class Dispatcher:
    def __init__(
        self,
        *,
        store: NotifyStore,
        mailer: Mailer,
        webhooks: WebhookSender,
        renderer: EmailRenderer,
        links: Links,
        addresses: AddressBook,
        sender: str,
        policy: DispatchPolicy,
        report_links: PartnerReportLinks | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._store = store
        self._mailer = mailer
        self._webhooks = webhooks
        self._renderer = renderer
        self._links = links
        self._addresses = addresses
        self._sender = sender
        self._policy = policy
        self._report_links = report_links
        self._clock = clock
        self._wake = asyncio.Event()
        self._inflight: dict[str, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def nudge(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._wake.clear()
            try:
                await self.dispatch_once()
            except Exception as exc:  # the database is away: try again at the next round
                log.warning("dispatch round failed", exc_info=exc)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._policy.interval_s):
                    waiter = asyncio.ensure_future(self._wake.wait())
                    stopping = asyncio.ensure_future(stop.wait())
                    try:
                        await asyncio.wait({waiter, stopping}, return_when="FIRST_COMPLETED")
                    finally:
                        waiter.cancel()
                        stopping.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self._policy.lease_s)

    async def dispatch_once(self) -> int:
        """Start every due delivery there is a slot for; returns how many were started."""
        now = self._clock()
        await self._recover_lost(now)
        room = self._policy.total - len(self._inflight)
        if room <= 0:
            return 0
        per_target = Counter(self._inflight.values())
        busy = [t for t, n in per_target.items() if n >= self._policy.per_target]
        started = 0
        for doc in await self._store.due_deliveries(now=now, busy_targets=busy, limit=room):
            target = str(doc["target"])
            if doc["_id"] in self._inflight or per_target[target] >= self._policy.per_target:
                continue
            per_target[target] += 1
            self._inflight[doc["_id"]] = target
            task = asyncio.create_task(self._attempt(doc))
            self._tasks.add(task)
            task.add_done_callback(self._done)
            started += 1
        return started

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self.nudge()

    async def _recover_lost(self, now: datetime) -> None:
        for doc in await self._store.lost_sends(now):
            if doc["_id"] in self._inflight:
                continue
            note = {"at": now, "attempt": doc.get("attempts", 0), "outcome": "unknown"}
            changes = {"status": "pending", "next_attempt_at": now}
            await self._store.update_delivery(doc["_id"], changes, note)

    async def _attempt(self, doc: Document) -> None:
        delivery_id = str(doc["_id"])
        try:
            attempt = int(doc.get("attempts", 0)) + 1
            now = self._clock()
            if doc["channel"] == "email" and not await self._addressed(doc, now):
                return
            if not await self._store.claim(delivery_id, attempt, now):
                return
            lease = now + timedelta(seconds=self._policy.lease_s)
            await self._store.update_delivery(
                delivery_id, {"status": "sending", "attempts": attempt, "lease_until": lease}
            )
            with continued(doc.get("trace")):
                if doc["channel"] == "email":
                    outcome = await self._send_email(doc, now)
                else:
                    outcome = await self._send_webhook(doc)
            await self._record(doc, attempt, outcome)
        except Exception as exc:
            log.error(
                "delivery attempt failed",
                extra={"case_id": doc.get("case_id"), "event_id": doc.get("event_id")},
                exc_info=exc,
            )
        finally:
            self._inflight.pop(delivery_id, None)

    async def _addressed(self, doc: Document, now: datetime) -> bool:
        """Put the recipient's address on the delivery; False if there is none (yet)."""
        found = await self._addresses.lookup(str(doc["case_id"]), doc["recipient"])
        delivery_id = str(doc["_id"])
        if found.email is not None:
            update = {"address": found.email, "language": found.language}
            if found.time_zone:
                update["time_zone"] = found.time_zone
            doc.update(update)
            await self._store.update_delivery(delivery_id, update)
            return True
        waited = (now - doc["created_at"]).total_seconds()
        if waited >= self._policy.address_wait_s:
            error = {"code": "no_address", "detail": "no address is known for the recipient"}
            note = {"at": now, "attempt": 0, "outcome": "skipped", "code": "no_address"}
            await self._store.update_delivery(
                delivery_id, {"status": "skipped", "last_error": error}, note
            )
        else:
            later = now + timedelta(seconds=self._policy.address_poll_s)
            await self._store.update_delivery(delivery_id, {"next_attempt_at": later})
        return False

    async def _send_email(self, doc: Document, now: datetime) -> Outcome:
        template, language = str(doc["template"]), str(doc["language"])
        links = self._links.params(doc, now, shown=self._renderer.fields(template, language))
        if links is None:
            return Outcome("failed", "no_link_key", "AUTH_LINK_KEY_PATH is not set")
        # The links (tokens) live only in the message: never stored or logged.
        params = {**doc.get("params", {}), **links}
        rendered = self._renderer.render(template, language, params)
        calendar = None
        if doc.get("invitation"):
            invitation = Invitation.from_doc(doc["invitation"])
            text = calendar_text(
                invitation,
                language=language,
                organizer=self._addresses.staff_email,
                attendee=str(doc["address"]),
            )
            calendar = (text, invitation.method)
        message = build_message(
            rendered,
            sender=self._sender,
            to=str(doc["address"]),
            delivery_id=str(doc["_id"]),
            calendar=calendar,
        )
        return await self._mailer.send(message, to=str(doc["address"]))

    async def _send_webhook(self, doc: Document) -> Outcome:
        partner = await self._store.get_partner(str(doc["partner_id"]))
        if partner is None or partner.get("status") != "active":
            return Outcome("failed", "partner_inactive", "the partner endpoint is disabled")
        body = str(doc["body"]).encode()
        if self._report_links is not None:
            body = self._report_links.attach(body, partner, self._clock())
        return await self._webhooks.post(
            url=str(partner["url"]),
            secret=str(partner["secret"]),
            msg_id=str(doc["_id"]),
            body=body,
        )

    async def _record(self, doc: Document, attempt: int, outcome: Outcome) -> None:
        now = self._clock()
        note = {
            "at": now,
            "attempt": attempt,
            "outcome": outcome.kind,
            "code": outcome.code,
            "detail": outcome.detail,
        }
        error = {"code": outcome.code, "detail": outcome.detail}
        changes: dict[str, Any]
        if outcome.kind == "sent":
            changes = {"status": "sent", "sent_at": now}
        elif outcome.kind == "retry":
            schedule = (
                self._policy.email_schedule_s
                if doc["channel"] == "email"
                else self._policy.webhook_schedule_s
            )
            when = next_attempt(
                attempts=attempt, now=now, schedule=schedule, retry_after_s=outcome.retry_after_s
            )
            changes = (
                {"status": "gave-up", "last_error": error}
                if when is None
                else {"status": "pending", "next_attempt_at": when, "last_error": error}
            )
        elif outcome.kind == "disable":
            changes = {"status": "failed", "last_error": error}
            await self._store.set_partner(
                str(doc["partner_id"]), {"status": "disabled", "disabled_reason": outcome.code}
            )
        else:
            changes = {"status": outcome.kind, "last_error": error}
        await self._store.update_delivery(str(doc["_id"]), changes, note)
        DELIVERY_ATTEMPTS.labels(doc["channel"], changes["status"]).inc()
        log.info(
            "delivery attempt recorded",
            extra={
                "case_id": doc.get("case_id"),
                "event_id": doc.get("event_id"),
                "status": changes["status"],
                "reason": outcome.code,
                "attempt": attempt,
            },
        )
