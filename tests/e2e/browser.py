"""Real Chromium (Debian's, driven by Playwright) for the page tests: phone and desktop
contexts, a screenshot of every step, and axe-core run on every page."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from deploy.local.run import REPO

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
AXE = REPO / "deploy" / "web" / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
# The README names this folder; CI keeps it as an artifact.
SCREENSHOTS = Path(os.environ.get("SOP_SCREENSHOTS_DIR", REPO / "artifacts" / "screenshots"))
BLOCKING = ("serious", "critical")


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def person(
    browser: Browser, *, phone: bool, locale: str = "en-US", zone: str = "UTC"
) -> BrowserContext:
    # axe-core is injected as an inline script, which the pages' CSP would refuse.
    return await browser.new_context(
        viewport=PHONE if phone else DESKTOP,
        locale=locale,
        timezone_id=zone,
        bypass_csp=True,
        is_mobile=phone,
        has_touch=phone,
    )


@dataclass
class Looked:
    """Every page a test looked at: its screenshot and what axe-core found on it."""

    folder: Path
    violations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    count: int = 0

    async def at(self, page: Page, step: str) -> None:
        self.count += 1
        name = f"{self.count:02d}-{re.sub(r'[^a-z0-9]+', '-', step.lower()).strip('-')}"
        self.folder.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=self.folder / f"{name}.png", full_page=True)
        await page.add_script_tag(path=str(AXE))
        result = await page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        )
        blocking = [
            {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result
            if v.get("impact") in BLOCKING
        ]
        if blocking:
            self.violations[name] = blocking
