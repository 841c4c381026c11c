"""Every route of every service, called without a token, is refused (401) unless it is one of
the few that are public on purpose; the refusals are on the audit trail like any other."""

from __future__ import annotations

import re

import httpx
import pytest

from deploy.local.run import API_SERVICES
from tests.platform import Platform

pytestmark = pytest.mark.real

# Public on purpose: probes and API docs; the family's request form (a family has no account
# yet; it is rate- and size-limited), the consent texts it shows and the fee estimate shown
# before it (prices, no case); the board's sign-in page and static files.
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("POST", "/cases@intake"),
    ("GET", "/consent@intake"),
    ("GET", "/consent/{version}@intake"),
    ("GET", "/fees/estimate@intake"),
    ("GET", "/board/login@notify"),
    ("POST", "/board/login@notify"),
    ("POST", "/board/logout@notify"),
}


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "case-x", path)


async def test_no_route_answers_a_caller_without_a_token(platform: Platform) -> None:
    checked, refused = 0, []
    async with httpx.AsyncClient(timeout=30) as http:
        for name in platform.services:
            if name not in API_SERVICES:
                continue  # the web front door has pages, not an API: see tests/e2e/test_web_*
            url = platform.url(name)
            spec = (await http.get(f"{url}/openapi.json")).json()
            for path, operations in spec["paths"].items():
                for method in operations:
                    method = method.upper()
                    if {(method, path), (method, f"{path}@{name}")} & PUBLIC:
                        continue
                    if path.startswith("/board/static"):
                        continue
                    response = await http.request(method, f"{url}{concrete(path)}")
                    checked += 1
                    # A redirect to the board's sign-in page is the board's way of saying 401.
                    redirected = response.status_code in (302, 303, 307) and "login" in (
                        response.headers.get("location", "")
                    )
                    if response.status_code != 401 and not redirected:
                        refused.append((name, method, path, response.status_code))
    assert checked > 60
    assert refused == []
