"""Putting the notify service together: store, timeline handlers, dispatcher, hub and app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from services.notify.addresses import AddressBook
from services.notify.api import create_app
from services.notify.board_feed import BoardBroadcaster, BoardFeed
from services.notify.board_view import BoardRenderer
from services.notify.channels import HttpWebhookSender, Mailer, SmtpMailer, WebhookSender
from services.notify.config import NotifySettings
from services.notify.deps import NotifyPorts
from services.notify.dispatcher import Dispatcher, DispatchPolicy
from services.notify.emails import EmailRenderer
from services.notify.handlers import NotifyContext, consumer_handlers
from services.notify.hub import BoardHub
from services.notify.links import Links
from services.notify.partner_links import PartnerReportLinks
from services.notify.rebuild import rebuild_timeline
from services.notify.store import NotifyStore
from shared.auth import TokenIssuer, TokenVerifier
from shared.bus import EventPublisher
from shared.consumer import ConsumerRunner
from shared.mongo import Document
from shared.runtime import BackgroundTask

SERVICE = "notify"
log = logging.getLogger(__name__)


@dataclass
class NotifyService:
    app: FastAPI
    ports: NotifyPorts
    runner: ConsumerRunner
    webhooks: WebhookSender
    broadcaster: BoardBroadcaster
    feed: BoardFeed
    # Decided before the consumer starts, which would otherwise make the store non-empty.
    needs_rebuild: bool = False

    async def rebuild_if_empty(self, stop: asyncio.Event) -> None:
        """At start, a store without cases (a new or wiped database) is filled from the topics."""
        if not self.needs_rebuild:
            return
        await rebuild_timeline(stack=self.ports.settings.stack, store=self.ports.store)

    async def close_board(self, stop: asyncio.Event) -> None:
        """Open event streams end when the service stops, so the HTTP server can."""
        await stop.wait()
        self.ports.hub.close()
        if isinstance(self.webhooks, HttpWebhookSender):
            await self.webhooks.close()

    @property
    def background(self) -> Sequence[BackgroundTask]:
        return [
            self.runner.run,
            self.ports.dispatcher.run,
            self.rebuild_if_empty,
            self.close_board,
            self.broadcaster.run,
            self.feed.run,
        ]


def smtp_mailer(settings: NotifySettings) -> SmtpMailer:
    return SmtpMailer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.mail_from,
        start_tls=settings.smtp_starttls,
        use_tls=settings.smtp_use_tls,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        timeout_s=settings.smtp_timeout_s,
    )


def link_issuer(link_key_path: Path | None) -> TokenIssuer | None:
    if link_key_path is None:
        log.warning("AUTH_LINK_KEY_PATH is not set: emails with a family link cannot be sent")
        return None
    return TokenIssuer.from_pem(link_key_path.read_bytes())


def email_links(settings: NotifySettings, issuer: TokenIssuer | None) -> Links:
    """The links emails carry, from the settings."""
    return Links(
        case_template=settings.case_link_template,
        report_template=settings.report_link_template,
        staff_case_template=settings.staff_case_link_template,
        expert_case_template=settings.expert_link_template,
        expert_offers_link=settings.expert_offers_link,
        issuer=issuer,
        ttl_s=settings.link_ttl_s,
    )


def partner_report_links(
    settings: NotifySettings, issuer: TokenIssuer | None
) -> PartnerReportLinks | None:
    """Report URLs and a scoped token in partners' report webhooks, when both are configured."""
    if settings.reports_url is None or issuer is None:
        log.warning("NOTIFY_REPORTS_URL or the link key is not set: webhooks carry no report URL")
        return None
    return PartnerReportLinks(settings.reports_url, issuer, settings.partner_link_ttl_s)


async def assemble(
    *,
    db: AsyncDatabase[Document],
    settings: NotifySettings,
    publisher: EventPublisher,
    verifier: TokenVerifier,
    issuer: TokenIssuer | None,
    mailer: Mailer | None = None,
    webhooks: WebhookSender | None = None,
) -> NotifyService:
    store = NotifyStore(db)
    webhooks = webhooks or HttpWebhookSender(timeout_s=settings.webhook_timeout_s)
    await store.ensure_indexes()
    hub = BoardHub(queue_size=settings.board_queue_size, replay_size=settings.board_replay_size)
    board = BoardRenderer()
    broadcaster = BoardBroadcaster(publisher, settings.stack)
    feed = BoardFeed(hub, settings.stack)
    links = email_links(settings, issuer)
    dispatcher = Dispatcher(
        store=store,
        mailer=mailer or smtp_mailer(settings),
        webhooks=webhooks,
        renderer=EmailRenderer(),
        links=links,
        addresses=AddressBook(
            store=store,
            staff_email=settings.staff_email,
            expert_email_template=settings.expert_email_template,
        ),
        sender=settings.mail_from,
        policy=DispatchPolicy(
            email_schedule_s=settings.email_retry_schedule_s,
            webhook_schedule_s=settings.webhook_retry_schedule_s,
            per_target=settings.per_target_concurrency,
            total=settings.total_concurrency,
            interval_s=settings.dispatch_interval_s,
            lease_s=settings.send_lease_s,
            address_wait_s=settings.address_wait_s,
        ),
        report_links=partner_report_links(settings, issuer),
    )
    ctx = NotifyContext(
        store=store,
        message_max_age=timedelta(seconds=settings.message_max_age_s),
        timeline_changed=lambda timeline: board.publish(broadcaster, timeline),
        deliveries_queued=dispatcher.nudge,
    )
    runner = ConsumerRunner(
        stack=settings.stack,
        group_id=settings.stack.topic(SERVICE),
        handlers=consumer_handlers(ctx),
        publisher=publisher,
    )
    ports = NotifyPorts(
        ctx=ctx,
        store=store,
        hub=hub,
        dispatcher=dispatcher,
        board=board,
        settings=settings,
        verifier=verifier,
    )

    async def consumer_ready() -> bool:
        return runner.ready and feed.ready

    async def database_ready() -> bool:
        await db.command("ping")
        return True

    app = create_app(ports, {"mongo": database_ready, "kafka": consumer_ready})
    needs_rebuild = settings.rebuild_when_empty and not await store.has_cases()
    return NotifyService(app, ports, runner, webhooks, broadcaster, feed, needs_rebuild)
