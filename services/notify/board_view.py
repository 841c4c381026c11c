"""Rendering the staff board (jinja2, autoescaped) and the live update for one case."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import jinja2

from services.notify.domain.timeline import STAGES, CaseTimeline
from services.notify.emails import template_environment

COLUMN_LABELS = {
    "submitted": "Submitted",
    "gathering-records": "Gathering records",
    "awaiting-expert": "Awaiting expert",
    "in-review": "In review",
    "report-issued": "Report issued",
    "follow-up": "Follow-up",
}
SPECIALTIES = (
    "neuro-oncology",
    "neurosurgery",
    "oncology",
    "hematology",
    "cardiology",
    "genetics",
    "not-sure",
)


class CardSink(Protocol):
    """Where a card change goes: a hub (`hub.py`) or every instance's hubs (`board_feed.py`)."""

    def publish(self, event: str, data: Any, audiences: frozenset[str] = ...) -> None: ...


class BoardRenderer:
    def __init__(self) -> None:
        self._env: jinja2.Environment = template_environment()
        self._card = self._env.get_template("board/_card.html").module.card  # type: ignore[attr-defined]

    def card(self, timeline: CaseTimeline) -> str:
        return str(self._card(timeline))

    def update(self, timeline: CaseTimeline) -> dict[str, Any]:
        """The SSE payload for one case: where it goes and its card, rendered once."""
        return {
            "case_id": timeline.case_id,
            "stage": timeline.stage,
            "hidden": not timeline.on_board,
            "html": self.card(timeline) if timeline.on_board else "",
        }

    def publish(self, sink: CardSink, timeline: CaseTimeline) -> None:
        # An expert's board follows the cases assigned to them.
        audiences = frozenset({timeline.expert_id} if timeline.expert_id else ())
        sink.publish("case", self.update(timeline), audiences)

    def board(
        self,
        timelines: Sequence[CaseTimeline],
        *,
        specialty: str,
        expert: str,
        principal: object,
        since: str = "",
    ) -> str:
        experts = sorted(
            {(t.expert_id, t.expert_name or t.expert_id) for t in timelines if t.expert_id},
            key=lambda pair: pair[1],
        )
        shown = [
            t
            for t in timelines
            if t.on_board
            and (not specialty or t.specialty == specialty)
            and (not expert or t.expert_id == expert)
        ]
        by_stage: dict[str, list[CaseTimeline]] = {stage: [] for stage in STAGES}
        for timeline in shown:
            by_stage[timeline.stage].append(timeline)
        for cards in by_stage.values():
            # Urgent and at-risk first, then the longest waiting.
            cards.sort(key=_priority)
        return self._env.get_template("board/board.html").render(
            columns=[(stage, COLUMN_LABELS[stage]) for stage in STAGES],
            by_stage=by_stage,
            specialties=SPECIALTIES,
            experts=experts,
            filters={"specialty": specialty, "expert": expert},
            total=len(shown),
            urgent=sum(1 for t in shown if t.urgency == "urgent"),
            attention=sum(1 for t in shown if t.attention),
            principal=principal,
            since=since,
        )

    def case(self, timeline: CaseTimeline, *, principal: object, work_link: str = "") -> str:
        """`work_link`: where this viewer works on the case in the web front door."""
        return self._env.get_template("board/case.html").render(
            c=timeline,
            stage_label=COLUMN_LABELS[timeline.stage],
            principal=principal,
            work_link=work_link,
        )

    def login(self, *, error: str | None = None) -> str:
        return self._env.get_template("board/login.html").render(error=error, principal=None)


def _priority(timeline: CaseTimeline) -> tuple[int, int, str]:
    level = {"overdue": 0, "at-risk": 1}.get(timeline.service_level.state, 2)
    urgent = 0 if timeline.urgency == "urgent" else 1
    updated = timeline.updated_at.isoformat() if timeline.updated_at else ""
    return (level, urgent, updated)
