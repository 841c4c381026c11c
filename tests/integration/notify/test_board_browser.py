"""The staff board in a real headless browser (Debian's Chromium driven by Playwright): a
card appears and moves between columns without a reload as services publish events, the
summary and a screen-reader announcement follow it, and the pages fit a phone and a desktop
with no serious or critical axe-core finding (screenshots in artifacts/screenshots/board/)."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.integration.notify import events
from tests.integration.notify.conftest import Notify, StartNotify
from tests.support import eventually

pytestmark = pytest.mark.real

REPO = Path(__file__).resolve().parents[3]
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
AXE = REPO / "deploy" / "web" / "node_modules" / "axe-core" / "axe.min.js"
# The same folder as the e2e pages' screenshots (tests/e2e/browser.py); CI keeps it.
SCREENSHOTS = (
    Path(os.environ.get("SOP_SCREENSHOTS_DIR", REPO / "artifacts" / "screenshots")) / "board"
)
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
BLOCKING = ("serious", "critical")


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


@asynccontextmanager
async def board_page(
    browser: Browser, notify: Notify, *, phone: bool = False
) -> AsyncIterator[Page]:
    """A signed-in intake coordinator's board, live, on a phone or a desktop."""
    # axe-core is injected as a script, which a content security policy would refuse.
    context = await browser.new_context(
        viewport=PHONE if phone else DESKTOP, is_mobile=phone, has_touch=phone, bypass_csp=True
    )
    try:
        page = await context.new_page()
        token = notify.issuer.issue(subject="staff-1", role="intake-staff")
        await page.goto(f"{notify.url}/board/login")
        await page.fill("#token", token)
        await page.click("button[type=submit]")
        await expect(page.locator("#live")).to_have_class("live on")
        yield page
    finally:
        await context.close()


async def axe(page: Page, context: str = "document", **options: Any) -> list[dict[str, Any]]:
    """The page's serious and critical axe-core violations, each with a few of its nodes."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make web-assets`")
    if not await page.evaluate("typeof axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE))
    found = await page.evaluate(
        f"async (options) => (await axe.run({context}, options)).violations",
        {"resultTypes": ["violations"], **options},
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "nodes": [(n["target"], n.get("failureSummary", "")) for n in v["nodes"]][:5],
        }
        for v in found
        if v.get("impact") in BLOCKING
    ]


# axe-core leaves text of one or two characters (the summary's counts) unchecked as
# "incomplete"; this measures every visible text against the backgrounds painted under it.
TEXT_CONTRAST = """() => {
  const rgba = (css) => {
    const [r, g, b, a] = css.match(/[\\d.]+/g).map(Number);
    return [r, g, b, a === undefined ? 1 : a];
  };
  const over = (top, under) => [0, 1, 2].map((i) => top[i] * top[3] + under[i] * (1 - top[3]));
  const luminance = (rgb) => {
    const [r, g, b] = rgb.map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const failures = [];
  for (const el of document.querySelectorAll("body *")) {
    if (["SCRIPT", "STYLE", "NOSCRIPT", "OPTION"].includes(el.tagName)) continue;
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) continue;
    const chain = [];
    for (let e = el; e; e = e.parentElement) chain.unshift(e);
    // Text clipped to a pixel (the visually hidden headings and announcements) is not seen.
    if (chain.some((e) => { const r = e.getBoundingClientRect(); return r.width <= 1; })) continue;
    let paper = [255, 255, 255];
    let opacity = 1;
    for (const e of chain) {
      const style = getComputedStyle(e);
      const fill = rgba(style.backgroundColor);
      if (fill[3] > 0) paper = over(fill, paper);
      opacity *= Number(style.opacity);
    }
    const style = getComputedStyle(el);
    const ink = rgba(style.color);
    const text = over([ink[0], ink[1], ink[2], ink[3] * opacity], paper);
    const [hi, lo] = [luminance(text), luminance(paper)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      const where = el.className || el.tagName;
      failures.push(`${where} "${el.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}:1`);
    }
  }
  return failures;
}"""


async def contrast(page: Page) -> list[str]:
    """Texts under 4.5:1 (3:1 if large) against what is painted beneath them."""
    failures: list[str] = await page.evaluate(TEXT_CONTRAST)
    return failures


def fits(box: Any, width: int) -> bool:
    """Whether an element's bounding box lies across the viewport's width."""
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width


async def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


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
        await eventually(
            lambda w=walk: notify.has_seen(w[0].subject, *(e.id for e in w)), within=30
        )


async def test_a_card_moves_columns_live_and_the_summary_and_announcements_follow(
    start_notify: StartNotify, browser: Browser
) -> None:
    async with start_notify() as notify:
        await seed(notify)
        async with board_page(browser, notify) as page:
            await page.evaluate("window.__loaded = true")  # gone if the page reloads
            total, urgent = page.locator("#total"), page.locator("#urgent-count")
            attention, said = page.locator("#attention-count"), page.locator("#announcements")
            await expect(said).to_have_attribute("aria-live", "polite")
            for counter, value in ((total, "7"), (urgent, "2"), (attention, "2")):
                await expect(counter).to_have_text(value)

            case_id = "NCH-2026-0420"
            born = date(2018, 9, 9)
            await notify.publish(
                events.submitted_by(
                    case_id, given="Lucas", family="Moreau", born=born, urgency="urgent"
                )
            )
            card = page.locator(f"#card-{case_id}")
            await expect(page.locator(f"#col-submitted #card-{case_id}")).to_be_visible()
            await expect(card.locator(".who")).to_contain_text("L.M.")
            await expect(said).to_contain_text(f"Case {case_id} added to Submitted.")
            await expect(total).to_have_text("8")
            await expect(urgent).to_have_text("3")

            await notify.publish(events.records_updated(case_id, missing=1))
            await expect(page.locator(f"#col-gathering-records #card-{case_id}")).to_be_visible()
            await expect(said).to_contain_text(f"Case {case_id} moved to Gathering records.")
            await notify.publish(events.records_ready(case_id))
            await expect(page.locator(f"#col-awaiting-expert #card-{case_id}")).to_be_visible()
            await notify.publish(events.assigned(case_id, "cruz", urgency="urgent"))
            await expect(page.locator(f"#col-in-review #card-{case_id}")).to_be_visible()
            await expect(said).to_contain_text(f"Case {case_id} moved to In review.")
            await expect(card).to_have_count(1)
            await expect(page.locator("#col-in-review .count")).to_have_text("3")

            await notify.publish(events.service_level(case_id, "service-level-at-risk", "cruz"))
            await expect(card).to_have_attribute("data-attention", "yes")
            await expect(attention).to_have_text("3")
            await expect(said).to_contain_text(f"Case {case_id} updated in In review.")

            await notify.publish(events.cancelled("NCH-2026-0415"))  # urgent, gathering records
            await expect(page.locator("#card-NCH-2026-0415")).to_have_count(0)
            await expect(said).to_contain_text("Case NCH-2026-0415 left the board.")
            for counter, value in ((total, "7"), (urgent, "2"), (attention, "3")):
                await expect(counter).to_have_text(value)
            assert await page.evaluate("window.__loaded === true")

            # The announcements name the case by its reference only: no initials, no age.
            for sentence in await said.locator("p").all_inner_texts():
                assert re.fullmatch(
                    r"Case NCH-2026-\d{4} (added to|moved to|updated in) [A-Z][a-z -]+\.|"
                    r"Case NCH-2026-\d{4} left the board\.",
                    sentence,
                ), sentence
            assert "Moreau" not in await page.content()
            await shoot(page, "live-desktop")

            await page.click(f"#card-{case_id} a")
            await expect(page.locator("h1")).to_contain_text("L.M.")
            await expect(page.locator(".timeline li")).to_have_count(5)


# Every combination of card state, waiting party and flag, so each colour pair is checked.
EVERY_CARD_COLOUR = """() => {
  const model = document.querySelector(".card");
  const cards = document.querySelector(".column .cards");
  const flags = ["urgent", "risk", "overdue", "hold"]
    .map((f) => `<span class="flag flag-${f}">${f}</span>`).join("");
  for (const state of ["", " urgent", " at-risk", " overdue", " urgent at-risk"]) {
    for (const party of ["family", "intake-staff", "expert", "nobody"]) {
      const card = model.cloneNode(true);
      card.removeAttribute("id");
      card.className = "card" + state;
      card.querySelector(".flags").innerHTML = flags;
      card.querySelector(".card-meta").innerHTML =
        '<span class="ref">NCH-2026-0001</span><span class="chip">neuro oncology</span>';
      card.querySelector(".waiting").className = "waiting party-" + party;
      card.querySelector(".waiting").innerHTML = '<span class="waiting-label">Waiting on</span>' +
        '<span class="waiting-party">Someone</span><span class="waiting-detail">2 records</span>';
      card.querySelector(".card-foot").innerHTML = '<span class="expert">Dr. Ana Ruiz</span>' +
        '<span class="due">due Jan 01</span><span class="due muted">Jan 01, 09:00</span>';
      cards.appendChild(card);
    }
  }
}"""


@pytest.mark.parametrize("phone", [True, False], ids=["phone", "desktop"])
async def test_the_board_fits_the_screen_and_axe_finds_nothing_serious(
    start_notify: StartNotify, browser: Browser, phone: bool
) -> None:
    size = "phone" if phone else "desktop"
    width = (PHONE if phone else DESKTOP)["width"]
    # A phone widens its layout to the content, so compare with the screen's own width.
    no_page_scroll = f"document.documentElement.scrollWidth <= {width}"
    async with start_notify() as notify:
        await seed(notify)
        async with board_page(browser, notify, phone=phone) as page:
            found = {"board": await axe(page), "board contrast": await contrast(page)}
            await shoot(page, f"board-{size}")
            assert await page.evaluate(no_page_scroll), "the page scrolls sideways"

            # The columns scroll (if they must) inside a container with a visible label, and
            # the last column can be brought into view.
            columns = page.locator(".columns")
            label = await columns.get_attribute("aria-labelledby")
            await expect(page.locator(f"#{label}")).to_be_visible()
            last = page.locator("#col-follow-up h3")
            await last.scroll_into_view_if_needed()
            box = await last.bounding_box()
            assert fits(box, width), box
            assert await page.evaluate(no_page_scroll)

            # The filters fit the screen and still filter.
            for name in ("specialty", "expert"):
                box = await page.locator(f"select[name={name}]").bounding_box()
                assert fits(box, width), (name, box)
                assert box is not None and box["height"] >= (44 if phone else 24), "hard to tap"
            await page.select_option("select[name=specialty]", "hematology")
            await page.wait_for_url("**/board?specialty=hematology*")
            await expect(page.locator(".card")).to_have_count(1)
            await expect(page.locator("#total")).to_have_text("1")
            await expect(page.locator("#urgent-count")).to_have_text("1")
            found["filtered"] = await axe(page)
            await shoot(page, f"board-filtered-{size}")

            await page.goto(f"{notify.url}/board/cases/NCH-2026-0377")
            found["case"] = await axe(page)
            found["case contrast"] = await contrast(page)
            await shoot(page, f"case-{size}")
            assert await page.evaluate(no_page_scroll), "the case page scrolls sideways"

            await page.goto(f"{notify.url}/board/login")
            found["login"] = await axe(page)
            found["login contrast"] = await contrast(page)
            assert await page.evaluate(no_page_scroll), "the sign-in page scrolls sideways"

            await page.goto(f"{notify.url}/board")
            await page.evaluate(EVERY_CARD_COLOUR)
            found["every card colour"] = await axe(page, runOnly=["color-contrast"])
            found["every card colour contrast"] = await contrast(page)

            assert found == {name: [] for name in found}, found
