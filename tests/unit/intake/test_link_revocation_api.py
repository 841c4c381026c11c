"""`POST /cases/{id}/links/revoke` over HTTP with an in-memory store: who may revoke, the
`access.revoked` it queues, and (fed back into the revocation map as every service's reader
would) the old link refused while the reissued one works."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from services.intake.api import create_app
from services.intake.config import IntakeSettings
from services.intake.handlers import IntakeContext
from services.intake.memory_store import InMemoryCaseStore
from shared.auth import TokenIssuer, TokenVerifier, principal_dependency
from shared.contracts import AccessRevoked, decode_payload, payload_as
from shared.revocations import RevokedLinks
from tests.unit.intake.samples import form


@dataclass
class Intake:
    client: httpx.AsyncClient
    store: InMemoryCaseStore
    revoked: RevokedLinks
    issuer: TokenIssuer

    def bearer(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    @property
    def staff(self) -> dict[str, str]:
        return self.bearer(self.issuer.issue(subject="staff-1", role="intake-staff"))

    def deliver_revocations(self) -> list[AccessRevoked]:
        """What the reader in every service does with the published events."""
        found = [
            payload_as(decode_payload(e), AccessRevoked)
            for e in self.store.outbox
            if e.type == "access.revoked"
        ]
        for revocation in found:
            self.revoked.apply(revocation)
        return found


@pytest.fixture
async def intake(issuer: TokenIssuer, verifier: TokenVerifier) -> AsyncIterator[Intake]:
    store = InMemoryCaseStore()
    context = IntakeContext(
        store=store, settings=IntakeSettings(submissions_per_minute=1000), links=issuer
    )
    app = create_app(ctx=context, authenticate=principal_dependency(verifier), readiness={})
    revoked = RevokedLinks()
    revoked.mark_loaded()
    app.state.revoked_links = revoked
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake.test") as client:
        yield Intake(client, store, revoked, issuer)


async def test_staff_revoke_every_link_of_a_case_and_hand_out_a_fresh_one(intake: Intake) -> None:
    submitted = await intake.client.post("/cases", json=form())
    case_id, old = submitted.json()["case_id"], submitted.json()["link"]["token"]
    status = f"/cases/{case_id}/status"
    assert (await intake.client.get(status, headers=intake.bearer(old))).status_code == 200

    answer = await intake.client.post(
        f"/cases/{case_id}/links/revoke",
        json={"reason": "sent-to-wrong-person", "reissue": "guardian"},
        headers=intake.staff,
    )
    assert answer.status_code == 200, answer.text
    fresh = answer.json()["link"]["token"]
    (event,) = intake.deliver_revocations()
    assert event.case_id == case_id and event.reason == "sent-to-wrong-person"
    assert event.actor.role == "intake-staff"
    assert answer.json()["not_before"].startswith(event.not_before.isoformat()[:19])

    refused = await intake.client.get(status, headers=intake.bearer(old))
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "link_revoked"
    assert (await intake.client.get(status, headers=intake.bearer(fresh))).status_code == 200
    # A link staff issue later in the same second is dated from the cut-off, so it works too.
    later = await intake.client.post(
        f"/cases/{case_id}/links", json={"role": "referring-physician"}, headers=intake.staff
    )
    assert (
        await intake.client.get(status, headers=intake.bearer(later.json()["token"]))
    ).status_code == 200
    detail = await intake.client.get(f"/cases/{case_id}", headers=intake.staff)
    assert detail.json()["history"][-1]["change"] == "links-revoked"


async def test_a_link_holder_may_revoke_but_not_reissue_and_strangers_may_not(
    intake: Intake,
) -> None:
    submitted = await intake.client.post("/cases", json=form())
    case_id, mine = submitted.json()["case_id"], submitted.json()["link"]["token"]
    revoke = f"/cases/{case_id}/links/revoke"
    reissue = await intake.client.post(
        revoke,
        json={"reason": "lost-or-shared", "reissue": "guardian"},
        headers=intake.bearer(mine),
    )
    assert reissue.status_code == 403 and reissue.json()["error"]["code"] == "forbidden"
    other = intake.issuer.issue(subject="g", role="guardian", case_ids=["another-case"])
    stranger = await intake.client.post(
        revoke, json={"reason": "lost-or-shared"}, headers=intake.bearer(other)
    )
    assert stranger.status_code == 404
    hospital = intake.issuer.issue(subject="h", role="hospital-system", organization="valley")
    refused = await intake.client.post(
        revoke, json={"reason": "other"}, headers=intake.bearer(hospital)
    )
    assert refused.status_code == 403
    assert intake.deliver_revocations() == []

    own = await intake.client.post(
        revoke, json={"reason": "lost-or-shared"}, headers=intake.bearer(mine)
    )
    assert own.status_code == 200 and own.json()["link"] is None
    (event,) = intake.deliver_revocations()
    assert event.actor.role == "guardian"
    again = await intake.client.post(
        revoke, json={"reason": "lost-or-shared"}, headers=intake.bearer(mine)
    )
    assert again.status_code == 401 and again.json()["error"]["code"] == "link_revoked"
    bad = await intake.client.post(revoke, json={"reason": "because"}, headers=intake.staff)
    assert bad.status_code == 422
