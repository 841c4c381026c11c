"""Who may call what: the form is public; the status page is for the case's own links, intake
staff and the submitting hospital; the team's view is for intake staff (admin sees no clinical
content). A stranger to a case is told it does not exist (404); a role that never may use a
route gets 403; no token, 401."""

from __future__ import annotations

import pytest

from shared.auth import Role
from tests.integration.intake.conftest import IntakeHarness
from tests.unit.intake.samples import form

pytestmark = pytest.mark.real

STAFF_ROUTES = [
    ("GET", "/cases"),
    ("GET", "/cases/{id}"),
    ("POST", "/cases/{id}/triage"),
    ("POST", "/cases/{id}/notes"),
    ("POST", "/cases/{id}/hold"),
    ("POST", "/cases/{id}/resume"),
    ("POST", "/cases/{id}/cancel"),
    ("POST", "/cases/{id}/links"),
]
NOT_STAFF: list[Role] = [
    "admin",
    "guardian",
    "referring-physician",
    "expert",
    "partner",
    "hospital-system",
    "service",
]


async def test_the_access_matrix(intake: IntakeHarness) -> None:
    case_id = (await intake.submit(form()))["case_id"]
    other_id = (await intake.submit(form()))["case_id"]

    for method, template in STAFF_ROUTES:
        path = template.format(id=case_id)
        assert (await intake.client.request(method, path, json={})).status_code == 401, path
        for role in NOT_STAFF:
            headers = intake.auth(role, case_ids=[case_id], organization="org-1")
            refused = await intake.client.request(method, path, json={}, headers=headers)
            assert refused.status_code == 403, (path, role)
            assert refused.json()["error"]["code"] == "forbidden"
        allowed = await intake.client.request(method, path, json={}, headers=intake.staff)
        assert allowed.status_code in (200, 409, 422), (path, allowed.text)
    revoke = await intake.client.post(
        f"/cases/{case_id}/links/revoke",
        json={"reason": "lost-or-shared"},
        headers=intake.auth("admin"),
    )
    assert revoke.status_code == 403 and revoke.json()["error"]["code"] == "forbidden"

    status = f"/cases/{case_id}/status"
    expected: list[tuple[dict[str, str], int]] = [
        ({}, 401),
        ({"Authorization": "Bearer not-a-token"}, 401),
        (intake.auth("guardian", case_ids=[case_id]), 200),
        (intake.auth("referring-physician", case_ids=[case_id]), 200),
        (intake.auth("intake-staff"), 200),
        (intake.auth("admin"), 403),  # roster and partners, no clinical content
        (intake.auth("guardian", case_ids=[other_id]), 404),
        (intake.auth("referring-physician", case_ids=[other_id]), 404),
        (intake.auth("guardian"), 404),  # a link that names no case
        (intake.auth("hospital-system", organization="org-1"), 404),  # not its case
        (intake.auth("expert"), 403),
        (intake.auth("partner"), 403),
        (intake.auth("service"), 403),
    ]
    for headers, code in expected:
        answer = await intake.client.get(status, headers=headers)
        assert answer.status_code == code, (headers, answer.text)
    missing = await intake.client.get("/cases/nope/status", headers=intake.staff)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert (await intake.client.get("/cases/nope", headers=intake.staff)).status_code == 404

    # The form is public; a token, if sent, must be one that may submit.
    for role, code in (("guardian", 201), ("referring-physician", 201), ("intake-staff", 201)):
        answer = await intake.client.post(
            "/cases", json=form(), headers=intake.auth(role, case_ids=["x"])
        )
        assert answer.status_code == code, role
    for role in ("expert", "partner", "hospital-system"):
        answer = await intake.client.post("/cases", json=form(), headers=intake.auth(role))
        assert answer.status_code == 403, role
    bad_token = await intake.client.post(
        "/cases", json=form(), headers={"Authorization": "Bearer junk"}
    )
    assert bad_token.status_code == 401


async def test_staff_can_issue_a_new_link_that_works_for_that_case_only(
    intake: IntakeHarness,
) -> None:
    case_id = (await intake.submit(form(submitted_by="referring-physician")))["case_id"]
    issued = await intake.client.post(
        f"/cases/{case_id}/links", json={"role": "guardian"}, headers=intake.staff
    )
    assert issued.status_code == 201 and issued.json()["role"] == "guardian"
    link = {"Authorization": f"Bearer {issued.json()['token']}"}
    assert (await intake.client.get(f"/cases/{case_id}/status", headers=link)).status_code == 200
    assert (await intake.client.get("/cases", headers=link)).status_code == 403
    unknown = await intake.client.post(
        "/cases/nope/links", json={"role": "guardian"}, headers=intake.staff
    )
    assert unknown.status_code == 404
