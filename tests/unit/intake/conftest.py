"""The intake app over ASGI with an in-memory store: fast, no servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from services.intake.api import create_app
from services.intake.config import IntakeSettings
from services.intake.handlers import IntakeContext
from services.intake.memory_store import InMemoryCaseStore
from shared.auth import Role, TokenIssuer, TokenVerifier, principal_dependency


@dataclass
class FastIntake:
    client: httpx.AsyncClient
    store: InMemoryCaseStore
    context: IntakeContext
    issuer: TokenIssuer

    def auth(
        self, role: Role, *, case_ids: Iterable[str] = (), organization: str | None = None
    ) -> dict[str, str]:
        token = self.issuer.issue(
            subject=f"{role}-1", role=role, case_ids=case_ids, organization=organization
        )
        return {"Authorization": f"Bearer {token}"}

    @property
    def staff(self) -> dict[str, str]:
        return self.auth("intake-staff")

    async def submit(self, body: dict[str, Any], **headers: str) -> str:
        answer = await self.client.post("/cases", json=body, headers=headers)
        assert answer.status_code == 201, answer.text
        case_id: str = answer.json()["case_id"]
        return case_id


@pytest.fixture
async def fast_intake(issuer: TokenIssuer, verifier: TokenVerifier) -> AsyncIterator[FastIntake]:
    store = InMemoryCaseStore()
    settings = IntakeSettings(submissions_per_minute=1000)
    context = IntakeContext(store=store, settings=settings, links=issuer)
    app = create_app(ctx=context, authenticate=principal_dependency(verifier), readiness={})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake.test") as client:
        yield FastIntake(client, store, context, issuer)
