"""Handlers of erasure at intake (erasure.py): the family's request, the team's decision, and
the retention sweep. Each is one unit of work: the record (a stub once erased) and its events
(`case.updated` for a case still in progress, then `case.erased`) in one conditional write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from services.intake import access, erasure
from services.intake.domain import CaseRecord, RefusalReason
from services.intake.erasure import Erasure
from services.intake.handlers import SOURCE, IntakeContext
from shared.auth import Principal
from shared.contracts.case_erased import ErasureReason
from shared.contracts.common import Actor
from shared.envelope import CloudEvent, make_event

log = logging.getLogger(__name__)

Step = Callable[[CaseRecord, Actor, datetime], Erasure]


async def request_erasure(
    *, ctx: IntakeContext, principal: Principal, case_id: str, reason: ErasureReason
) -> CaseRecord:
    """The guardian asks, with their case link, that the child's personal data be erased."""

    def step(record: CaseRecord, actor: Actor, at: datetime) -> Erasure:
        return erasure.request_erasure(record, actor=actor, reason=reason, at=at)

    return await _erasure_step(ctx, principal, case_id, "request-erasure", step)


async def approve_erasure(*, ctx: IntakeContext, principal: Principal, case_id: str) -> CaseRecord:
    """The intake team approves the waiting request: the case is erased everywhere."""

    def step(record: CaseRecord, actor: Actor, at: datetime) -> Erasure:
        return erasure.approve_erasure(record, actor=actor, at=at)

    return await _erasure_step(ctx, principal, case_id, "decide-erasure", step)


async def refuse_erasure(
    *, ctx: IntakeContext, principal: Principal, case_id: str, refusal: RefusalReason
) -> CaseRecord:
    """The intake team refuses the waiting request, with a reason code."""

    def step(record: CaseRecord, actor: Actor, at: datetime) -> Erasure:
        return erasure.refuse_erasure(record, actor=actor, refusal=refusal, at=at)

    return await _erasure_step(ctx, principal, case_id, "decide-erasure", step)


async def _erasure_step(
    ctx: IntakeContext, principal: Principal, case_id: str, action: access.Action, step: Step
) -> CaseRecord:
    access.check_case_scope(principal, action, case_id)
    actor = Actor(subject=principal.subject, role=principal.role)

    def decide(current: CaseRecord | None) -> tuple[CaseRecord, list[CloudEvent]]:
        record = access.check_case(principal, action, current, case_id)
        return _written(step(record, actor, ctx.clock()), ctx.clock())

    change = await ctx.store.change_case(case_id, decide)
    assert change.record is not None  # decide always writes
    if change.events:
        ctx.events_queued(case_id, change.events)
        log.info("case erased", extra={"case_id": case_id, "event_id": change.events[-1].id})
    return change.record


def _written(step: Erasure, now: datetime) -> tuple[CaseRecord, list[CloudEvent]]:
    case_id = step.record.case_id
    events = [make_event(e, source=SOURCE, subject=case_id, time=now) for e in step.events]
    return step.record, events


async def erase_expired(*, ctx: IntakeContext, limit: int = 100) -> int:
    """Erase closed cases older than the program's retention period; returns how many."""
    days = ctx.settings.retention_days
    if days <= 0:
        return 0
    now = ctx.clock()
    erased = 0
    for case_id, closed_at in await ctx.store.closed_cases(limit=limit):
        loaded = await ctx.store.get_case(case_id)
        if loaded is None or not erasure.retention_due(
            loaded, closed_at=closed_at, now=now, retention_days=days
        ):
            continue

        def decide(
            current: CaseRecord | None, closed_at: datetime = closed_at
        ) -> tuple[CaseRecord, list[CloudEvent]] | None:
            if current is None or not erasure.retention_due(
                current, closed_at=closed_at, now=now, retention_days=days
            ):
                return None
            step = erasure.erase(current, actor=erasure.SYSTEM, reason="retention-expired", at=now)
            return _written(step, now)

        change = await ctx.store.change_case(case_id, decide)
        if change.written:
            erased += 1
            ctx.events_queued(case_id, change.events)
            log.info("case erased after its retention period", extra={"case_id": case_id})
    return erased


async def sweep_retention(ctx: IntakeContext, stop: asyncio.Event, *, every_s: float) -> None:
    """Run `erase_expired` now and then until `stop` (every intake instance may run it: a
    case is erased by one conditional write, whichever instance gets there first)."""
    while not stop.is_set():
        try:
            count = await erase_expired(ctx=ctx)
            if count:
                log.info("retention sweep erased cases", extra={"count": count})
        except Exception:
            log.exception("retention sweep failed; trying again later")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_s)
