"""HTTP routes of the notify service: timelines, the delivery log, partners and their
webhooks, experts' addresses; the board's routes live in `board.py`."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query
from fastapi.staticfiles import StaticFiles

from services.notify import board, partners
from services.notify.deps import Admin, Caller, NotifyPorts, Ports, Staff, TimelineReader
from services.notify.domain.deliveries import new_webhook_secret
from services.notify.domain.timeline import CaseTimeline, Stage
from services.notify.rebuild import rebuild_timeline
from services.notify.views import (
    DeliveryPublic,
    ExpertContact,
    PartnerCreate,
    PartnerCreated,
    PartnerDisable,
    PartnerPublic,
    RebuildStarted,
    ShareCreate,
)
from shared.auth import Principal
from shared.errors import ApiError
from shared.probes import ReadinessCheck
from shared.webapp import create_service_app

log = logging.getLogger(__name__)
router = APIRouter()
Limit = Annotated[int, Query(ge=1, le=1000)]


@router.get("/cases", tags=["timeline"])
async def list_cases(
    _: TimelineReader,
    ports: Ports,
    stage: Stage | None = None,
    specialty: str | None = None,
    expert_id: str | None = None,
    limit: Limit = 200,
) -> list[CaseTimeline]:
    """Case timelines, most recently changed first, narrowed by stage, specialty or expert."""
    query: dict[str, Any] = {}
    for field, value in (("stage", stage), ("specialty", specialty), ("expert_id", expert_id)):
        if value:
            query[field] = value
    return await ports.store.list_timelines(query, limit)


@router.get("/cases/{case_id}/timeline", tags=["timeline"])
async def get_timeline(case_id: str, _: TimelineReader, ports: Ports) -> CaseTimeline:
    """One case: its stage, who it waits on, its service level and every event in order."""
    timeline = await ports.store.get_timeline(case_id)
    if timeline is None:
        raise ApiError(404, "not_found", f"case {case_id} has no timeline here", "case_id")
    return timeline


@router.post("/timeline/rebuild", tags=["timeline"], status_code=202)
async def rebuild(_: Admin, ports: Ports) -> RebuildStarted:
    """Replay every case topic into the timeline (after the database was lost, say)."""
    running = ports.ctx.rebuild
    if running is not None and not running.done():
        return RebuildStarted(status="running")
    task = asyncio.create_task(
        rebuild_timeline(stack=ports.settings.stack, store=ports.store),
        name="timeline-rebuild",
    )
    ports.ctx.rebuild = task
    return RebuildStarted(status="started")


@router.get("/deliveries", tags=["deliveries"])
async def list_deliveries(
    _: Staff,
    ports: Ports,
    case_id: str | None = None,
    channel: str | None = None,
    status: str | None = None,
    limit: Limit = 200,
) -> list[DeliveryPublic]:
    """The delivery log: every email and webhook, how each try went, newest first."""
    query = {k: v for k, v in (("case_id", case_id), ("channel", channel), ("status", status)) if v}
    return [DeliveryPublic.of(d) for d in await ports.store.list_deliveries(query, limit)]


@router.put("/experts/{expert_id}/contact", tags=["experts"], status_code=204)
async def put_expert_contact(expert_id: str, body: ExpertContact, _: Admin, ports: Ports) -> None:
    """Where an expert's offers and reminders are mailed."""
    await ports.store.put_expert(expert_id, body.email, body.language)


@router.post("/partners", tags=["partners"], status_code=201)
async def register_partner(body: PartnerCreate, _: Admin, ports: Ports) -> PartnerCreated:
    """Register a partner's webhook; the answer holds its signing secret, shown only once."""
    if ports.settings.stack.sop_environment == "production" and body.url.scheme != "https":
        raise ApiError(422, "insecure_url", "webhook URLs must use https", "url")
    if await ports.store.get_partner(body.partner_id) is not None:
        raise ApiError(409, "partner_exists", f"partner {body.partner_id} exists", "partner_id")
    doc = {
        "_id": body.partner_id,
        "name": body.name,
        "organization_id": body.organization_id,
        "url": str(body.url),
        "event_types": list(body.event_types),
        "secret": new_webhook_secret(),
        "status": "active",
        "created_at": datetime.now(UTC),
    }
    await ports.store.add_partner(doc)
    return PartnerCreated.model_validate({**doc, "partner_id": doc["_id"]})


@router.get("/partners", tags=["partners"])
async def list_partners(_: Admin, ports: Ports) -> list[PartnerPublic]:
    """Every registered partner (without secrets)."""
    return [PartnerPublic.of(d) for d in await ports.store.list_partners()]


@router.post("/partners/{partner_id}/enable", tags=["partners"])
async def enable_partner(partner_id: str, _: Admin, ports: Ports) -> PartnerPublic:
    """Turn deliveries back on after an admin disabled them or the endpoint answered 410 Gone."""
    await _partner(ports, partner_id, None)
    await ports.store.set_partner(partner_id, {"status": "active", "disabled_reason": None})
    return PartnerPublic.of(await _partner(ports, partner_id, None))


@router.post("/partners/{partner_id}/disable", tags=["partners"])
async def disable_partner(
    partner_id: str, body: PartnerDisable, _: Admin, ports: Ports
) -> PartnerPublic:
    """Stop a partner's deliveries, saying why; `enable` turns them back on."""
    doc = await partners.disable_partner(
        store=ports.store, partner_id=partner_id, reason=body.reason
    )
    if doc is None:
        raise _unknown(partner_id)
    return PartnerPublic.of(doc)


@router.post("/partners/{partner_id}/secret", tags=["partners"])
async def rotate_partner_secret(partner_id: str, _: Admin, ports: Ports) -> PartnerCreated:
    """A new signing secret, shown only this once; the old one signs nothing from now on."""
    doc = await partners.rotate_secret(store=ports.store, partner_id=partner_id)
    if doc is None:
        raise _unknown(partner_id)
    return PartnerCreated.model_validate({**doc, "partner_id": doc["_id"]})


@router.post("/partners/{partner_id}/shares", tags=["partners"], status_code=204)
async def share_case(partner_id: str, body: ShareCreate, _: Staff, ports: Ports) -> None:
    """Let a partner receive the events of a case its organization did not send."""
    await _partner(ports, partner_id, None)
    await ports.store.share(partner_id, body.case_id, datetime.now(UTC))


@router.get("/partners/{partner_id}/deliveries", tags=["partners"])
async def partner_deliveries(
    partner_id: str, caller: Caller, ports: Ports, limit: Limit = 200
) -> list[DeliveryPublic]:
    """A partner's delivery log (admins, or the partner's own organization)."""
    await _partner(ports, partner_id, caller)
    found = await ports.store.list_deliveries({"partner_id": partner_id}, limit)
    return [DeliveryPublic.of(d) for d in found]


@router.post("/partners/{partner_id}/deliveries/{delivery_id}/replay", tags=["partners"])
async def replay_delivery(
    partner_id: str, delivery_id: str, caller: Caller, ports: Ports
) -> DeliveryPublic:
    """Send a delivery again now, whatever became of it before (same webhook-id)."""
    await _partner(ports, partner_id, caller)
    doc = await ports.store.get_delivery(delivery_id)
    if doc is None or doc.get("partner_id") != partner_id:
        raise ApiError(404, "not_found", f"no delivery {delivery_id} for this partner")
    now = datetime.now(UTC)
    note = {"at": now, "attempt": doc.get("attempts", 0), "outcome": "replay-requested"}
    await ports.store.update_delivery(
        delivery_id, {"status": "pending", "next_attempt_at": now}, note
    )
    ports.dispatcher.nudge()
    replayed = await ports.store.get_delivery(delivery_id)
    assert replayed is not None
    return DeliveryPublic.of(replayed)


# Last in the OpenAPI document: a walk over every route (tests/e2e) deletes its partner here,
# after the partner routes above have found it.
@router.delete("/partners/{partner_id}", tags=["partners"], status_code=204)
async def delete_partner(partner_id: str, _: Admin, ports: Ports) -> None:
    """Remove a partner: its pending deliveries are skipped, its delivery log is kept."""
    now = datetime.now(UTC)
    if not await partners.remove_partner(store=ports.store, partner_id=partner_id, now=now):
        raise _unknown(partner_id)


async def _partner(ports: NotifyPorts, partner_id: str, caller: Principal | None) -> Any:
    """The partner, if the caller may see it: admins, or a partner token of its organization."""
    doc = await ports.store.get_partner(partner_id)
    allowed = caller is None or caller.role == "admin"
    if doc is not None and caller is not None and caller.role == "partner":
        allowed = caller.organization == doc.get("organization_id")
    if caller is not None and caller.role not in ("admin", "partner"):
        raise ApiError(403, "forbidden", "only admins and the partner may use this route")
    if doc is None or not allowed:
        raise _unknown(partner_id)
    return doc


def _unknown(partner_id: str) -> ApiError:
    return ApiError(404, "not_found", f"no partner {partner_id}", "partner_id")


def create_app(ports: NotifyPorts, readiness: dict[str, ReadinessCheck]) -> FastAPI:
    app = create_service_app(
        title="notify service",
        description="Notify: the case timeline, emails, the live staff board and partner webhooks.",
        readiness=readiness,
    )
    app.state.notify = ports
    static = StaticFiles(directory=str(Path(__file__).with_name("static")))
    app.mount("/board/static", static, name="board-static")
    app.include_router(board.router)
    app.include_router(router)
    return app
