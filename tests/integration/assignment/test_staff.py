"""Staff steer cases: triage, hand assignment, reassignment, boards, cancellation."""

from __future__ import annotations

from typing import Any

import pytest

from services.assignment.config import DEMO_ROSTER
from services.assignment.roster_handlers import load_roster, read_roster_file
from shared.contracts import CaseUpdated
from shared.contracts.common import Actor
from shared.envelope import CloudEvent, make_event
from tests.integration.assignment.conftest import StartAssignment, records_ready, roster_entry
from tests.support import eventually, sample_event

pytestmark = pytest.mark.real
STAFF = Actor(subject="staff-1", role="intake-staff")


def case_updated(case_id: str, change: str, specialty: str, **fields: Any) -> CloudEvent:
    payload = CaseUpdated.model_validate(
        {
            "case_id": case_id,
            "change": change,
            "status": "cancelled" if change == "cancelled" else "open",
            "specialty": specialty,
            "actor": STAFF,
            **fields,
        }
    )
    return make_event(payload, source="/tests/intake", subject=case_id)


async def test_not_sure_waits_for_triage_then_matching_runs(
    start_assignment: StartAssignment,
) -> None:
    async with start_assignment() as svc:
        await svc.publish(sample_event("case-n", specialty="not-sure"), records_ready("case-n"))
        await eventually(lambda: svc.log.changes("case-n") == [("no-expert-available", None)])
        assert svc.log.of("case-n")[0].data["reasons"] == ["specialty needs triage"]
        await svc.publish(case_updated("case-n", "triaged", "neuro-oncology"))
        await svc.offered_to("case-n", "ana")


async def test_staff_reassign_by_hand_and_send_the_case_to_a_board(
    start_assignment: StartAssignment,
) -> None:
    async with start_assignment() as svc:
        admin = svc.auth("admin-1", "admin")
        for member in ("dave", "eva"):
            entry = roster_entry(member, board_only=True)
            assert (await svc.client.post("/experts", json=entry, headers=admin)).status_code == 201
        board = {
            "board_id": "tumor-board",
            "name": "Neuro-oncology tumor board",
            "specialty": "neuro-oncology",
            "keywords": ["ependymoma"],
            "lead_expert_id": "cruz",
            "member_expert_ids": ["dave", "eva"],
        }
        assert (await svc.client.post("/boards", json=board, headers=admin)).status_code == 201
        await svc.publish(sample_event("case-s"), records_ready("case-s"))
        offer_id = await svc.offered_to("case-s", "ana")
        await svc.client.post(f"/offers/{offer_id}/accept", headers=svc.auth("ana", "expert"))

        conflict = await svc.client.post(
            "/cases/case-s/assign", json={"expert_id": "valley"}, headers=svc.staff
        )
        assert conflict.status_code == 409
        assert conflict.json()["error"]["code"] == "conflict_of_interest"
        unknown = await svc.client.post(
            "/cases/case-s/assign", json={"expert_id": "nobody"}, headers=svc.staff
        )
        assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "expert_id"

        moved = await svc.client.post(
            "/cases/case-s/assign",
            json={"expert_id": "ben", "note": "ana is travelling"},
            headers=svc.staff,
        )
        assert moved.status_code == 200, moved.text
        assert moved.json()["open_offer"]["chosen_by"] == "staff"
        await svc.offered_to("case-s", "ben")

        sent = await svc.client.post(
            "/cases/case-s/board", json={"board_id": "tumor-board"}, headers=svc.staff
        )
        assert sent.status_code == 200, sent.text
        lead_offer = await svc.offered_to("case-s", "cruz")
        accepted = await svc.client.post(
            f"/offers/{lead_offer}/accept", headers=svc.auth("cruz", "expert")
        )
        assert accepted.status_code == 200

        await eventually(lambda: len(svc.log.of("case-s", "expert.assigned")) == 2)
        assigned = svc.log.of("case-s", "expert.assigned")[-1].data
        assert assigned["board_id"] == "tumor-board"
        assert assigned["lead"]["expert_id"] == "cruz"
        assert [m["expert_id"] for m in assigned["team"]] == ["cruz", "dave", "eva"]
        assert svc.log.changes("case-s") == [
            ("offered", "ana"),
            ("reassigned", "ana"),
            ("offered", "ben"),
            ("reassigned", "ben"),
            ("sent-to-board", "cruz"),
            ("offered", "cruz"),
        ]
        reassigned = svc.log.of("case-s")[1].data
        assert reassigned["actor"] == {"subject": "staff-1", "role": "intake-staff"}
        case = (await svc.client.get("/cases/case-s", headers=svc.staff)).json()
        assert [o["status"] for o in case["offers"]] == ["accepted", "withdrawn", "accepted"]


async def test_cancellation_withdraws_the_open_offer(start_assignment: StartAssignment) -> None:
    async with start_assignment() as svc:
        await svc.publish(sample_event("case-x"), records_ready("case-x"))
        offer_id = await svc.offered_to("case-x", "ana")
        cancel = case_updated("case-x", "cancelled", "neuro-oncology", reason="family withdrew")
        await svc.publish(cancel)
        await eventually(lambda: svc.applied("case-x", cancel.id))
        case = (await svc.client.get("/cases/case-x", headers=svc.staff)).json()
        assert case["stage"] == "cancelled"
        assert case["service_level"]["state"] == "stopped"
        too_late = await svc.client.post(
            f"/offers/{offer_id}/accept", headers=svc.auth("ana", "expert")
        )
        assert too_late.status_code == 409
        assert too_late.json()["error"]["code"] == "offer_not_open"


async def test_the_demo_roster_loads_at_startup_and_loading_it_again_changes_nothing(
    start_assignment: StartAssignment,
) -> None:
    async with start_assignment(with_roster=False, load_demo_roster=True) as svc:
        experts = (await svc.client.get("/experts", headers=svc.staff)).json()
        boards = (await svc.client.get("/boards", headers=svc.staff)).json()
        assert len(experts) == 10 and len(boards) == 1
        assert sum("es" in e["languages"] for e in experts) >= 3
        await load_roster(store=svc.store, roster=read_roster_file(DEMO_ROSTER))
        assert (await svc.client.get("/experts", headers=svc.staff)).json() == experts

        # The sample case (medulloblastoma, Spanish) goes to the tumor board's lead.
        await svc.publish(sample_event("case-demo"), records_ready("case-demo"))
        await svc.offered_to("case-demo", "ana-ruiz")
        offer = svc.log.of("case-demo")[0].data
        assert any(r.startswith("board neuro-oncology-tumor-board") for r in offer["reasons"])
