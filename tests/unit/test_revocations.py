"""The revocation map and the token check: a case link issued before its case's revocation is
refused with 401 `link_revoked` on every route `principal_dependency` guards; staff tokens,
later links and links to other cases pass."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, Request

from shared.auth import (
    Principal,
    TokenIssuer,
    TokenVerifier,
    check_link_not_revoked,
    principal_dependency,
)
from shared.contracts import AccessRevoked
from shared.contracts.common import Actor
from shared.errors import ApiError, install_error_handlers
from shared.revocations import RevokedLinks

STAFF = Actor(subject="staff-1", role="intake-staff")


def _caller(request: Request) -> Principal:
    verifier: TokenVerifier = request.app.state.verifier
    return principal_dependency(verifier)(request)


Caller = Annotated[Principal, Depends(_caller)]


def revocation(case_id: str, not_before: datetime) -> AccessRevoked:
    return AccessRevoked(
        case_id=case_id, not_before=not_before, reason="lost-or-shared", actor=STAFF
    )


def link(case_id: str, issued_at: int, role: str = "guardian") -> Principal:
    return Principal.model_validate(
        {
            "subject": f"{role}-link:{case_id}",
            "role": role,
            "case_ids": [case_id],
            "token_id": "t-1",
            "issued_at": issued_at,
        }
    )


def test_the_cut_off_is_a_whole_second_and_only_moves_forward() -> None:
    revoked = RevokedLinks()
    assert revoked.not_before("c-1") is None and not revoked.loaded
    revoked.apply(revocation("c-1", datetime.fromtimestamp(1_800_000_100, UTC)))
    revoked.apply(revocation("c-1", datetime.fromtimestamp(1_800_000_050, UTC)))  # older, late
    assert revoked.not_before("c-1") == 1_800_000_100
    revoked.apply(revocation("c-1", datetime.fromtimestamp(1_800_000_200.25, UTC)))
    assert revoked.not_before("c-1") == 1_800_000_201  # rounded up, never down
    assert revoked.not_before("c-2") is None and len(revoked) == 1


def test_only_case_links_issued_before_the_cut_off_are_refused() -> None:
    revoked = RevokedLinks()
    revoked.apply(revocation("c-1", datetime.fromtimestamp(1_800_000_100, UTC)))
    revoked.mark_loaded()
    for role in ("guardian", "referring-physician"):
        with pytest.raises(ApiError) as refused:
            check_link_not_revoked(link("c-1", 1_800_000_099, role), revoked)
        assert (refused.value.status, refused.value.code) == (401, "link_revoked")
    check_link_not_revoked(link("c-1", 1_800_000_100), revoked)  # reissued at the cut-off
    check_link_not_revoked(link("c-2", 1_700_000_000), revoked)  # another case
    staff = Principal(subject="s", role="intake-staff", token_id="t", issued_at=1)
    check_link_not_revoked(staff, revoked)
    expert = Principal(subject="e", role="expert", case_ids=frozenset({"c-1"}), token_id="t")
    check_link_not_revoked(expert, revoked)  # not a case link


def test_case_links_wait_until_every_revocation_is_known() -> None:
    with pytest.raises(ApiError) as refused:
        check_link_not_revoked(link("c-1", 1_800_000_000), RevokedLinks())
    assert (refused.value.status, refused.value.code) == (503, "revocations_loading")


@pytest.fixture
async def guarded(
    verifier: TokenVerifier,
) -> AsyncIterator[tuple[httpx.AsyncClient, RevokedLinks]]:
    app = FastAPI()
    install_error_handlers(app)
    app.state.verifier = verifier

    @app.get("/cases/{case_id}")
    async def read(case_id: str, principal: Caller) -> dict[str, str]:
        return {"subject": principal.subject}

    revoked = RevokedLinks()
    revoked.mark_loaded()
    app.state.revoked_links = revoked
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc.test") as client:
        yield client, revoked


async def test_principal_dependency_refuses_a_revoked_link_and_accepts_a_new_one(
    guarded: tuple[httpx.AsyncClient, RevokedLinks], issuer: TokenIssuer
) -> None:
    client, revoked = guarded
    old = issuer.issue(subject="guardian-link:c-9", role="guardian", case_ids=["c-9"])
    staff = issuer.issue(subject="staff-1", role="intake-staff")
    assert (await client.get("/cases/c-9", params={"access_token": old})).status_code == 200
    cut_off = datetime.now(UTC).replace(microsecond=0).timestamp() + 1
    revoked.apply(revocation("c-9", datetime.fromtimestamp(cut_off, UTC)))
    refused = await client.get("/cases/c-9", headers={"Authorization": f"Bearer {old}"})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "link_revoked"
    fresh = issuer.issue(
        subject="guardian-link:c-9", role="guardian", case_ids=["c-9"], issued_at=int(cut_off)
    )
    assert (await client.get("/cases/c-9", params={"access_token": fresh})).status_code == 200
    as_staff = await client.get("/cases/c-9", headers={"Authorization": f"Bearer {staff}"})
    assert as_staff.status_code == 200
