"""The web front door in real Chromium on the platform the tests start: the whole journey by
browser only (tests/e2e/web_journey.py), a screenshot of every page in artifacts/screenshots/,
and axe-core on every page: no serious or critical violation."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.browser import CHROMIUM, SCREENSHOTS, Looked, chromium
from tests.e2e.test_case_journey import MailSink, mail, text_of
from tests.e2e.web_journey import Site, readable, walk
from tests.platform import Platform

pytestmark = [
    pytest.mark.real,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]
__all__ = ["mail", "text_of"]  # the mail sink fixture of the case journey


@pytest.fixture
def platform_env(mail: tuple[MailSink, int]) -> dict[str, str]:
    # A program that requires financial clearance, as `make run`'s demo: the coordinator's
    # clearance step is part of the journey.
    return {
        "NOTIFY_SMTP_HOST": "127.0.0.1",
        "NOTIFY_SMTP_PORT": str(mail[1]),
        "INTAKE_FINANCIAL_CLEARANCE_REQUIRED": "true",
    }


@pytest.mark.timeout(600)
async def test_a_family_a_coordinator_and_an_expert_do_the_whole_journey_in_a_browser(
    platform: Platform, mail: tuple[MailSink, int], tmp_path: Path
) -> None:
    sink, _ = mail
    site = Site(
        web=platform.url("web"),
        assignment=platform.url("assignment"),
        token=lambda role, subject: platform.issuer.issue(subject=subject, role=role),
        mail=lambda: [(recipients, readable(message)) for recipients, message in sink.messages],
    )
    looked = Looked(SCREENSHOTS / "journey")
    async with chromium() as browser:
        await walk(browser, site, looked, tmp_path)
    assert looked.count >= 15
    assert looked.violations == {}
