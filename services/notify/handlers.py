"""Event handlers of the notify service: keep the timeline, then plan who hears about it.

Every step is idempotent: the event is recorded insert-first by id, the case's timeline is
derived again from all its events, and each planned delivery is inserted first under the id
(event, channel, recipient), so a redelivered event changes nothing and sends nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from services.notify.domain.facts import EventFacts, facts_of
from services.notify.domain.recipients import MessageIntent, delivery_id, messages_for
from services.notify.domain.timeline import CaseTimeline
from services.notify.store import NotifyStore
from shared.consumer import Delivery, Handler
from shared.contracts import CASE_TOPICS, CaseErased, CaseSubmitted, decode_payload, payload_as
from shared.envelope import CloudEvent, decode, encode
from shared.erasure import ERASURE_TOPIC
from shared.tracing import current_trace_fields

log = logging.getLogger(__name__)

CONSUMED_TYPES: tuple[str, ...] = CASE_TOPICS
# What a partner may subscribe to: events without a child's or a family's details.
PARTNER_EVENT_TYPES: tuple[str, ...] = ("report.issued", "expert.assigned", "records.ready")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _nothing(*_: object) -> None:
    return None


@dataclass
class NotifyContext:
    store: NotifyStore
    message_max_age: timedelta = timedelta(days=2)
    clock: Callable[[], datetime] = _utc_now
    # Told about every timeline written (the board hub), and when deliveries are queued.
    timeline_changed: Callable[[CaseTimeline], None] = _nothing
    deliveries_queued: Callable[[], None] = _nothing
    # The rebuild an admin started, while it runs.
    rebuild: asyncio.Task[int] | None = None


def event_facts(event: CloudEvent) -> EventFacts:
    return EventFacts(
        event_id=event.id,
        case_id=event.subject,
        event_type=event.type,
        time=event.time,
        facts=facts_of(event.type, event.data, event.time),
    )


async def record_timeline(store: NotifyStore, event: CloudEvent) -> CaseTimeline:
    """Record the event and derive the case's timeline again (also what a rebuild runs)."""
    facts = event_facts(event)
    if event.type == "case.submitted":
        await _keep_contacts(store, event)
    return await store.add_to_timeline(facts)


async def on_case_event(delivery: Delivery, *, ctx: NotifyContext) -> None:
    """Timeline first (the board), then emails and partner webhooks for fresh events."""
    event = delivery.event
    timeline = await record_timeline(ctx.store, event)
    ctx.timeline_changed(timeline)
    if ctx.clock() - event.time > ctx.message_max_age:
        # A replay of old history rebuilds the timeline but tells nobody again.
        return
    facts = event_facts(event)
    planned = await plan_messages(ctx, facts)
    planned += await plan_webhooks(ctx, event, timeline)
    if event.type == "case.submitted":
        planned += await plan_deferred(ctx, event.subject, timeline)
    if planned:
        ctx.deliveries_queued()


def consumer_handlers(ctx: NotifyContext) -> dict[str, Handler]:
    handle: Handler = partial(on_case_event, ctx=ctx)
    handlers = dict.fromkeys(CONSUMED_TYPES, handle)
    handlers[ERASURE_TOPIC] = partial(on_case_erased, ctx=ctx)
    return handlers


async def on_case_erased(delivery: Delivery, *, ctx: NotifyContext) -> None:
    """The child's personal data is erased: the case leaves the board, and no message about it
    is sent any more (deleting twice is harmless)."""
    case_id = payload_as(delivery.payload, CaseErased).case_id
    deleted = await ctx.store.erase_case(case_id)
    log.info("case erased", extra={"case_id": case_id, "documents": deleted})


async def _keep_contacts(store: NotifyStore, event: CloudEvent) -> None:
    case = payload_as(decode_payload(event), CaseSubmitted)
    await store.put_contacts(
        event.subject,
        {
            "guardian_email": case.guardian.email,
            "guardian_language": case.guardian.preferred_language,
            "guardian_time_zone": case.guardian.time_zone,
            "physician_email": case.referring_physician.email,
            "physician_language": case.referring_physician.preferred_language,
            "physician_time_zone": case.referring_physician.time_zone,
            "organization_id": case.organization_id,
        },
    )


async def plan_messages(ctx: NotifyContext, facts: EventFacts) -> int:
    """Insert one email delivery per recipient; returns how many were new."""
    intents = messages_for(facts)
    if not intents:
        return 0
    planned = 0
    now = ctx.clock()
    for intent in intents:
        if await ctx.store.add_delivery(_email_delivery(facts, intent, now)):
            planned += 1
    return planned


def _email_delivery(facts: EventFacts, intent: MessageIntent, now: datetime) -> dict[str, Any]:
    doc = _delivery_base(facts, "email", intent.recipient.key, now)
    doc.update(
        target="smtp",
        template=intent.template,
        params={k: _display(v) for k, v in intent.params.items()},
    )
    if intent.invitation is not None:
        # The .ics is written when the message is sent: it names the recipient's address.
        doc["invitation"] = intent.invitation.as_doc()
    return doc


async def plan_webhooks(ctx: NotifyContext, event: CloudEvent, timeline: CaseTimeline) -> int:
    """One signed POST per partner that wants this event type and may see this case."""
    if event.type not in PARTNER_EVENT_TYPES:
        return 0
    if timeline.submitted_at is None:
        # Whose case this is is not known yet: wait for case.submitted. Its handler runs
        # concurrently (another topic) and may have taken the kept events just before this
        # one was kept, so look again: whichever of the two sees both takes it.
        await ctx.store.defer(event.id, event.subject, encode(event).decode())
        now_known = await ctx.store.get_timeline(event.subject)
        if now_known is None or now_known.submitted_at is None:
            return 0
        return await plan_deferred(ctx, event.subject, now_known)
    planned = 0
    now = ctx.clock()
    facts = event_facts(event)
    for partner in await ctx.store.partners_for(event.type):
        partner_id = str(partner["_id"])
        own = timeline.organization_id is not None and (
            partner.get("organization_id") == timeline.organization_id
        )
        if not own and not await ctx.store.is_shared(partner_id, event.subject):
            continue
        doc = _delivery_base(facts, "webhook", partner_id, now)
        doc.update(target=partner_id, partner_id=partner_id, body=encode(event).decode())
        if await ctx.store.add_delivery(doc):
            planned += 1
    return planned


async def plan_deferred(ctx: NotifyContext, case_id: str, timeline: CaseTimeline) -> int:
    """Plan the partner events kept until the case's submission (a repeat plans nothing)."""
    planned = 0
    for body in await ctx.store.take_deferred(case_id):
        planned += await plan_webhooks(ctx, decode(body.encode()), timeline)
    return planned


def _delivery_base(
    facts: EventFacts, channel: str, recipient: str, now: datetime
) -> dict[str, Any]:
    return {
        "_id": delivery_id(facts.event_id, channel, recipient),
        "channel": channel,
        "recipient": recipient,
        "case_id": facts.case_id,
        "event_id": facts.event_id,
        "event_type": facts.event_type,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "history": [],
        # The handler's span: the dispatcher's SMTP send or webhook POST continues its trace.
        "trace": current_trace_fields(),
    }


def _display(value: Any) -> Any:
    """Times as people read them in a message (UTC, to the minute)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, str) and len(value) >= 16 and value[4] == "-" and "T" in value:
        try:
            return _display(datetime.fromisoformat(value))
        except ValueError:
            return value
    return value
