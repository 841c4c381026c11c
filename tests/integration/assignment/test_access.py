"""Who may call what: staff steer cases, admins change the roster, an expert answers only their
own offers (another's is a 404, hiding that it exists), everyone else gets 403."""

from __future__ import annotations

import pytest

from shared.auth import Role
from tests.integration.assignment.conftest import StartAssignment, records_ready, roster_entry
from tests.support import sample_event

pytestmark = pytest.mark.real

OUTSIDERS: list[Role] = ["guardian", "referring-physician", "partner", "hospital-system"]
ROUTES = [
    ("GET", "/cases"),
    ("GET", "/cases/case-x"),
    ("POST", "/cases/case-x/assign"),
    ("POST", "/cases/case-x/board"),
    ("POST", "/cases/case-x/rematch"),
    ("GET", "/offers"),
    ("GET", "/offers/some-offer"),
    ("POST", "/offers/some-offer/accept"),
    ("POST", "/offers/some-offer/decline"),
    ("GET", "/experts"),
    ("POST", "/experts"),
    ("GET", "/boards"),
]


async def test_every_route_needs_a_token_and_outsiders_are_refused(
    start_assignment: StartAssignment,
) -> None:
    async with start_assignment(with_roster=False) as svc:
        assert (await svc.client.get("/healthz")).status_code == 200
        for method, path in ROUTES:
            anonymous = await svc.client.request(method, path, json={})
            assert anonymous.status_code == 401, (method, path)
            for role in OUTSIDERS:
                refused = await svc.client.request(
                    method, path, json={}, headers=svc.auth("someone", role)
                )
                assert refused.status_code == 403, (method, path, role)
                assert refused.json()["error"]["code"] == "forbidden"


async def test_experts_act_only_on_their_own_offers_and_staff_do_not_answer_offers(
    start_assignment: StartAssignment,
) -> None:
    async with start_assignment() as svc:
        await svc.publish(sample_event("case-x"), records_ready("case-x"))
        offer_id = await svc.offered_to("case-x", "ana")

        for action in ("accept", "decline"):
            other = await svc.client.post(
                f"/offers/{offer_id}/{action}",
                json={"reason": "not mine"},
                headers=svc.auth("ben", "expert"),
            )
            assert other.status_code == 404
            assert other.json()["error"]["code"] == "offer_not_found"
        peek = await svc.client.get(f"/offers/{offer_id}", headers=svc.auth("ben", "expert"))
        assert peek.status_code == 404
        assert (await svc.client.get("/offers", headers=svc.auth("ben", "expert"))).json() == []
        staff_accept = await svc.client.post(f"/offers/{offer_id}/accept", headers=svc.staff)
        assert staff_accept.status_code == 403
        assert (await svc.client.get(f"/offers/{offer_id}", headers=svc.staff)).status_code == 200
        expert_cases = await svc.client.get("/cases", headers=svc.auth("ana", "expert"))
        assert expert_cases.status_code == 403

        no_reason = await svc.client.post(
            f"/offers/{offer_id}/decline", json={}, headers=svc.auth("ana", "expert")
        )
        assert no_reason.status_code == 422
        assert no_reason.json()["error"]["field"] == "reason"


async def test_only_admins_change_the_roster_and_errors_name_the_field(
    start_assignment: StartAssignment,
) -> None:
    async with start_assignment() as svc:
        admin = svc.auth("admin-1", "admin")
        entry = roster_entry("dora", specialty="genetics")
        assert (await svc.client.post("/experts", json=entry, headers=svc.staff)).status_code == 403
        created = await svc.client.post("/experts", json=entry, headers=admin)
        assert created.status_code == 201
        again = await svc.client.post("/experts", json=entry, headers=admin)
        assert again.status_code == 409 and again.json()["error"]["field"] == "expert_id"

        profile = {k: v for k, v in entry.items() if k != "expert_id"}
        profile["leave"] = [{"start": "2026-12-20", "end": "2026-12-31"}]
        replaced = await svc.client.put("/experts/dora", json=profile, headers=admin)
        assert replaced.status_code == 200 and replaced.json()["leave"][0]["end"] == "2026-12-31"
        missing = await svc.client.put("/experts/nobody", json=profile, headers=admin)
        assert missing.status_code == 404
        bad_range = {**profile, "leave": [{"start": "2026-12-31", "end": "2026-12-01"}]}
        invalid = await svc.client.put("/experts/dora", json=bad_range, headers=admin)
        assert invalid.status_code == 422

        board = {
            "board_id": "genetics-board",
            "name": "Genetics board",
            "specialty": "genetics",
            "lead_expert_id": "dora",
            "member_expert_ids": ["ghost"],
        }
        unknown = await svc.client.post("/boards", json=board, headers=admin)
        assert unknown.status_code == 422
        assert unknown.json()["error"]["field"] == "member_expert_ids"
        board["member_expert_ids"] = ["ana"]
        assert (await svc.client.post("/boards", json=board, headers=admin)).status_code == 201
        on_board = await svc.client.delete("/experts/ana", headers=admin)
        assert on_board.status_code == 409
        assert (await svc.client.delete("/boards/genetics-board", headers=admin)).status_code == 204
        assert (await svc.client.delete("/experts/ana", headers=admin)).status_code == 204
        listed = (await svc.client.get("/experts", headers=svc.staff)).json()
        assert [e["expert_id"] for e in listed] == ["ben", "cruz", "dora", "valley"]

        unknown_case = await svc.client.get("/cases/nope", headers=svc.staff)
        assert unknown_case.status_code == 404
        assert unknown_case.json()["error"]["code"] == "case_not_found"
