"""The case timeline: what each event means for the staff board, and where a case stands.

No I/O. Each consumed event is reduced to a few PHI-free facts (`facts.facts_of`); the case's
view is derived from all of its facts sorted by event time (`derive`), so events of one case
that arrive out of order across topics still give the same answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.notify.domain.facts import EventFacts, title_of

Stage = Literal[
    "submitted", "gathering-records", "awaiting-expert", "in-review", "report-issued", "follow-up"
]
STAGES: tuple[Stage, ...] = (
    "submitted",
    "gathering-records",
    "awaiting-expert",
    "in-review",
    "report-issued",
    "follow-up",
)
STAGE_RANK = {stage: n for n, stage in enumerate(STAGES)}
Party = Literal["family", "physician", "intake-staff", "expert", "nobody"]
ServiceLevelState = Literal["none", "on-track", "at-risk", "overdue", "met", "late"]
Status = Literal["open", "on-hold", "cancelled"]
AWAITING_CLEARANCE = "awaiting financial clearance"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Entry(_Frozen):
    event_id: str
    event_type: str
    time: AwareDatetime
    title: str


class WaitingOn(_Frozen):
    party: Party
    detail: str = ""


class ServiceLevel(_Frozen):
    state: ServiceLevelState = "none"
    due_at: AwareDatetime | None = None


class CaseTimeline(_Frozen):
    """One case as the board shows it; the child appears only as initials and an age."""

    case_id: str
    stage: Stage = "submitted"
    status: Status = "open"
    specialty: str | None = None
    urgency: str = "routine"
    initials: str = "?"
    age: str = ""
    organization_id: str | None = None
    expert_id: str | None = None
    expert_name: str | None = None
    waiting_on: WaitingOn = WaitingOn(party="intake-staff")
    service_level: ServiceLevel = ServiceLevel()
    missing_records: int = 0
    report_version: int | None = None
    open_follow_ups: int = 0
    # The latest consult with the expert after the report (intake arranges it).
    consult_state: str | None = None
    consult_kind: str | None = None
    consult_at: AwareDatetime | None = None
    # In a program that requires it: "required" until the billing clears the case, "cleared".
    financial_clearance: str | None = None
    submitted_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None
    entries: list[Entry] = Field(default_factory=list)
    event_count: int = 0

    @property
    def on_board(self) -> bool:
        return self.status != "cancelled" and self.submitted_at is not None

    @property
    def attention(self) -> bool:
        return self.service_level.state in ("at-risk", "overdue")


def derive(case_id: str, events: Iterable[EventFacts]) -> CaseTimeline:
    """Fold the case's events, oldest first, into its board view."""
    ordered = sorted(events, key=lambda e: (e.time, e.event_id))
    view: dict[str, Any] = {"case_id": case_id}
    stage: Stage = "submitted"
    status: Status = "open"
    level = ServiceLevel()
    last_change: str | None = None
    pending_expert: tuple[str | None, str | None] = (None, None)
    for event in ordered:
        f = event.facts
        kind = event.event_type
        if kind == "case.submitted":
            view.update(
                {k: f[k] for k in ("specialty", "urgency", "initials", "age", "organization_id")}
            )
            view["submitted_at"] = event.time
        elif kind == "case.updated":
            status = f["status"]
            view["specialty"] = f["specialty"]
            if f["change"] == "note-added" and stage == "report-issued":
                stage = "follow-up"
        elif kind in ("records.updated", "records.requested"):
            if kind == "records.updated":
                view["missing_records"] = f["missing"]
            if STAGE_RANK[stage] < STAGE_RANK["gathering-records"]:
                stage = "gathering-records"
            elif kind == "records.requested" and stage == "report-issued":
                stage = "follow-up"
        elif kind == "records.ready":
            view["missing_records"] = 0
            stage = _at_least(stage, "awaiting-expert")
        elif kind == "assignment.updated":
            last_change = f["change"]
            if f.get("due_at"):
                level = ServiceLevel(state=_still(level.state), due_at=f["due_at"])
            if last_change == "reassigned":
                stage = "awaiting-expert"
                view["expert_id"] = view["expert_name"] = None
            elif last_change in ("offered", "declined", "offer-expired", "no-expert-available"):
                stage = _at_least(stage, "awaiting-expert")
            if last_change == "offered":
                pending_expert = (f.get("expert_id"), f.get("expert_name"))
            elif last_change == "service-level-at-risk" and level.state != "overdue":
                level = ServiceLevel(state="at-risk", due_at=level.due_at)
            elif last_change == "service-level-overdue":
                level = ServiceLevel(state="overdue", due_at=level.due_at)
        elif kind == "expert.assigned":
            stage = _at_least(stage, "in-review")
            view["expert_id"], view["expert_name"] = f["expert_id"], f["expert_name"]
            view["urgency"] = f.get("urgency") or view.get("urgency", "routine")
            level = ServiceLevel(state=_still(level.state), due_at=f["due_at"])
            last_change = "assigned"
        elif kind == "report.issued":
            stage = "follow-up" if f.get("amends_version") else _at_least(stage, "report-issued")
            view["report_version"] = f["version"]
            if level.state in ("on-track", "at-risk", "none"):
                level = ServiceLevel(state="met", due_at=level.due_at)
            elif level.state == "overdue":
                level = ServiceLevel(state="late", due_at=level.due_at)
        elif kind == "followup.updated":
            # The loop after the report: open while a question waits for its answer.
            view["open_follow_ups"] = f["open"]
            if f["open"]:
                stage = "follow-up"
            elif stage == "follow-up":
                stage = "report-issued"
        elif kind == "consult.updated":
            _follow_consult(view, f)
        elif kind == "financial_clearance.updated":
            view["financial_clearance"] = f["state"]
    waiting = _waiting_on(stage, status, view, last_change, pending_expert)
    view.pop("consult_requested_by", None)  # only for who chooses the time
    view.update(
        stage=stage,
        status=status,
        service_level=level,
        waiting_on=waiting,
        entries=[
            Entry(event_id=e.event_id, event_type=e.event_type, time=e.time, title=title_of(e))
            for e in ordered
        ],
        event_count=len(ordered),
        updated_at=ordered[-1].time if ordered else None,
    )
    return CaseTimeline.model_validate(view)


def _follow_consult(view: dict[str, Any], f: dict[str, Any]) -> None:
    states = {"requested": "requested", "rescheduled": "proposed"}
    view["consult_state"] = states.get(f["change"], f["change"])
    view["consult_kind"] = f["kind"]
    view["consult_requested_by"] = f["requested_by"]
    chosen = f.get("confirmed_slot")
    view["consult_at"] = chosen["start"] if chosen and f["change"] == "confirmed" else None


def _consult_waiting(view: dict[str, Any]) -> WaitingOn | None:
    """Who acts next on a consult being arranged (after the report, when nothing else waits)."""
    state = view.get("consult_state")
    what = "video consult" if view.get("consult_kind") == "video" else "in-person consult"
    if state == "requested":
        return WaitingOn(party="intake-staff", detail="propose consult times")
    if state == "proposed":
        party: Party = "physician" if view.get("consult_requested_by") != "guardian" else "family"
        return WaitingOn(party=party, detail="choose a consult time")
    if state == "confirmed" and view.get("consult_at"):
        start = datetime.fromisoformat(str(view["consult_at"])).astimezone(UTC)
        return WaitingOn(party="nobody", detail=f"{what} on {start:%Y-%m-%d %H:%M} UTC")
    return None


def _at_least(stage: Stage, floor: Stage) -> Stage:
    return stage if STAGE_RANK[stage] >= STAGE_RANK[floor] else floor


def _still(state: ServiceLevelState) -> ServiceLevelState:
    return "on-track" if state == "none" else state


def _waiting_on(
    stage: Stage,
    status: Status,
    view: dict[str, Any],
    last_change: str | None,
    pending_expert: tuple[str | None, str | None],
) -> WaitingOn:
    if status == "cancelled":
        return WaitingOn(party="nobody", detail="cancelled")
    if status == "on-hold":
        return WaitingOn(party="intake-staff", detail="on hold")
    if stage == "submitted":
        if view.get("specialty") == "not-sure":
            return WaitingOn(party="intake-staff", detail="choose a specialty")
        return WaitingOn(party="family", detail="records to upload")
    if stage == "gathering-records":
        missing = view.get("missing_records", 0)
        return WaitingOn(party="family", detail=f"{missing} record(s) missing")
    if stage == "awaiting-expert":
        if view.get("financial_clearance") == "required":
            # Assignment offers the case to nobody until it is cleared.
            return WaitingOn(party="intake-staff", detail=AWAITING_CLEARANCE)
        if last_change == "offered":
            return WaitingOn(party="expert", detail=f"offer to {pending_expert[1] or 'expert'}")
        if last_change == "no-expert-available":
            return WaitingOn(party="intake-staff", detail="choose an expert")
        return WaitingOn(party="intake-staff", detail="matching")
    if stage == "in-review":
        return WaitingOn(party="expert", detail=f"report by {view.get('expert_name') or 'expert'}")
    consult = _consult_waiting(view)
    if stage in ("report-issued", "follow-up") and consult and not view.get("open_follow_ups"):
        return consult
    if stage == "follow-up":
        waiting = view.get("open_follow_ups", 0)
        detail = f"{waiting} follow-up question(s)" if waiting else "follow-up questions"
        return WaitingOn(party="expert", detail=detail)
    return WaitingOn(party="nobody", detail="report delivered")
