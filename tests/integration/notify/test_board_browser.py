"""The staff board in a real headless browser (Debian's Chromium driven by Playwright): a
card appears and moves between columns without a reload as services publish events."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.integration.notify import events
from tests.integration.notify.conftest import Notify, StartNotify
from tests.support import eventually

pytestmark = pytest.mark.real

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HAVE_CHROMIUM = Path(CHROMIUM).exists()
SCREENSHOT = Path(os.environ.get("BOARD_SCREENSHOT", "/tmp/board.png"))


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not HAVE_CHROMIUM:
        pytest.skip("Debian's chromium is not installed")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def open_board(browser: Browser, notify: Notify) -> Page:
    page = await browser.new_page(viewport={"width": 1600, "height": 900})
    token = notify.issuer.issue(subject="staff-1", role="intake-staff")
    await page.goto(f"{notify.url}/board/login")
    await page.fill("#token", token)
    await page.click("button[type=submit]")
    await expect(page.locator("#live")).to_have_class("live on")
    return page


async def seed(notify: Notify) -> None:
    """A few realistic cases spread over the columns."""
    walks = [
        [
            events.submitted_by(
                "NCH-2026-0412", given="Liam", family="Ortega", born=date(2014, 2, 3)
            )
        ],
        [
            events.submitted_by(
                "NCH-2026-0415",
                given="Sofia",
                family="Nguyen",
                born=date(2020, 8, 19),
                specialty="hematology",
                urgency="urgent",
                language="es",
            ),
            events.records_updated("NCH-2026-0415", missing=2),
        ],
        [
            events.submitted_by(
                "NCH-2026-0398", given="Ava", family="Patel", born=date(2011, 11, 30)
            ),
            events.records_ready("NCH-2026-0398"),
            events.offered("NCH-2026-0398", "ben"),
        ],
        [
            events.submitted_by(
                "NCH-2026-0377",
                given="Noah",
                family="Kim",
                born=date(2017, 5, 14),
                urgency="urgent",
            ),
            events.records_ready("NCH-2026-0377"),
            events.assigned("NCH-2026-0377", "ana", urgency="urgent"),
            events.service_level("NCH-2026-0377", "service-level-at-risk", "ana"),
        ],
        [
            events.submitted_by(
                "NCH-2026-0351",
                given="Mia",
                family="Haddad",
                born=date(2009, 1, 22),
                specialty="neurosurgery",
            ),
            events.records_ready("NCH-2026-0351"),
            events.assigned("NCH-2026-0351", "cruz"),
            events.service_level("NCH-2026-0351", "service-level-overdue", "cruz"),
        ],
        [
            events.submitted_by(
                "NCH-2026-0302", given="Ethan", family="Rossi", born=date(2015, 7, 7)
            ),
            events.records_ready("NCH-2026-0302"),
            events.assigned("NCH-2026-0302", "ana"),
            events.issued("NCH-2026-0302"),
        ],
        [
            events.submitted_by(
                "NCH-2026-0288",
                given="Isabella",
                family="Silva",
                born=date(2022, 3, 2),
                specialty="oncology",
            ),
            events.records_ready("NCH-2026-0288"),
            events.assigned("NCH-2026-0288", "ben"),
            events.issued("NCH-2026-0288"),
            events.issued("NCH-2026-0288", version=2, amends=1),
        ],
    ]
    for walk in walks:
        await notify.publish(*walk)
    for walk in walks:
        await eventually(lambda w=walk: notify.has_seen(w[-1].subject, w[-1].id), within=30)


async def test_a_card_moves_columns_live_without_a_reload(
    start_notify: StartNotify, browser: Browser
) -> None:
    async with start_notify() as notify:
        await seed(notify)
        page = await open_board(browser, notify)
        await page.evaluate("window.__loaded = true")  # gone if the page reloads

        case_id = "NCH-2026-0420"
        await notify.publish(
            events.submitted_by(case_id, given="Lucas", family="Moreau", born=date(2018, 9, 9))
        )
        card = page.locator(f"#card-{case_id}")
        await expect(page.locator(f"#col-submitted #card-{case_id}")).to_be_visible()
        await expect(card.locator(".who")).to_contain_text("L.M.")

        await notify.publish(events.records_updated(case_id, missing=1))
        await expect(page.locator(f"#col-gathering-records #card-{case_id}")).to_be_visible()
        await notify.publish(events.records_ready(case_id))
        await expect(page.locator(f"#col-awaiting-expert #card-{case_id}")).to_be_visible()
        await notify.publish(events.assigned(case_id, "cruz"))
        await expect(page.locator(f"#col-in-review #card-{case_id}")).to_be_visible()
        await expect(card).to_have_count(1)
        assert await page.evaluate("window.__loaded === true")

        await expect(page.locator("#col-in-review .count")).to_have_text("3")
        assert "Moreau" not in await page.content()
        await page.screenshot(path=str(SCREENSHOT), full_page=True)

        await page.click(f"#card-{case_id} a")
        await expect(page.locator("h1")).to_contain_text("L.M.")
        await expect(page.locator(".timeline li")).to_have_count(4)
        await page.screenshot(path=str(SCREENSHOT.with_name("board-case.png")), full_page=True)
