"""The board's HTML: columns, marks, escaping, and no names."""

from __future__ import annotations

import orjson

from services.notify.board_view import BoardRenderer
from services.notify.domain.timeline import derive
from services.notify.hub import BoardHub
from tests.unit.notify.events import assigned, change, submitted

RENDERER = BoardRenderer()


def test_cases_sit_in_their_stage_column_with_urgent_and_at_risk_marked() -> None:
    quiet = derive("case-1", [submitted()])
    risky = derive(
        "case-2",
        [
            submitted(urgency="urgent"),
            assigned(5, urgency="urgent"),
            change(9, "service-level-at-risk"),
        ],
    ).model_copy(update={"case_id": "case-2"})
    html = RENDERER.board([quiet, risky], specialty="", expert="", principal=None)
    submitted_column = html.split('id="col-submitted"')[1].split('id="col-gathering-records"')[0]
    review_column = html.split('id="col-in-review"')[1].split('id="col-report-issued"')[0]
    assert 'id="card-case-1"' in submitted_column
    assert 'id="card-case-2"' in review_column
    assert "Urgent" in review_column and "At risk" in review_column
    assert "Urgent" not in submitted_column


def test_filters_by_specialty_and_expert() -> None:
    heme = derive("case-h", [submitted(specialty="hematology")])
    ana = derive("case-a", [submitted(), assigned(1, "ana")])
    only_heme = RENDERER.board([heme, ana], specialty="hematology", expert="", principal=None)
    assert 'id="card-case-h"' in only_heme and 'id="card-case-a"' not in only_heme
    only_ana = RENDERER.board([heme, ana], specialty="", expert="ana", principal=None)
    assert 'id="card-case-a"' in only_ana and 'id="card-case-h"' not in only_ana


def test_card_values_are_escaped() -> None:
    hostile = derive("case-x", [submitted(initials="<script>.")])
    card = RENDERER.card(hostile)
    assert "<script>" not in card and "&lt;script&gt;." in card


def test_a_live_update_carries_the_rendered_card_once_for_everyone() -> None:
    hub = BoardHub()
    subscriber = hub.subscribe()
    RENDERER.publish(hub, derive("case-1", [submitted()]))
    frame = subscriber.queue.get_nowait()
    data = orjson.loads(frame.split(b"data: ", 1)[1])
    assert data["case_id"] == "case-1" and data["stage"] == "submitted"
    assert data["html"].startswith("<article") and not data["hidden"]
