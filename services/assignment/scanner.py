"""The background scan: expired offers go to the next best, and service-level points are
announced, each exactly once (the write that announces it is a compare-and-set)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from services.assignment.domain.errors import AssignmentError
from services.assignment.handlers import (
    AssignmentContext,
    announce_service_levels,
    expire_offer,
)
from services.assignment.metrics import SERVICE_LEVEL_CASES
from shared.consumer import TRANSIENT_ERRORS

log = logging.getLogger(__name__)
# A case that fails is logged and retried on the next pass; it must not stop the others.
_SKIPPABLE: tuple[type[BaseException], ...] = (AssignmentError, *TRANSIENT_ERRORS)


async def scan_once(ctx: AssignmentContext) -> int:
    """One pass; returns how many cases it looked at. A failing case does not stop the rest."""
    now = ctx.clock()
    store = ctx.store
    work = [
        *(("expire", case_id, offer) for case_id, offer in await store.expired_offers(now)),
        *(("service-level", case_id, "") for case_id in await store.service_levels_due(now)),
    ]
    for kind, case_id, offer_id in work:
        try:
            if kind == "expire":
                await expire_offer(ctx=ctx, case_id=case_id, offer_id=offer_id)
            else:
                await announce_service_levels(ctx=ctx, case_id=case_id)
        except _SKIPPABLE as exc:
            log.warning(
                "scan step failed; next pass retries", extra={"case_id": case_id}, exc_info=exc
            )
    return len(work)


async def run_scanner(ctx: AssignmentContext, *, interval_s: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await scan_once(ctx)
            counts = await ctx.store.service_level_counts(ctx.clock())
            for state, count in counts.items():
                SERVICE_LEVEL_CASES.labels(state).set(count)
        except TRANSIENT_ERRORS as exc:
            log.warning("scan pass failed; will retry", exc_info=exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
