"""Every kind of page of the web front door on a phone and on a desktop, with axe-core, plus
what the journey does not walk: the admin's roster, a page for another role, a double submit,
a revoked link in the browser, and every service's /docs with no internet."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import expect

from deploy.local.run import API_SERVICES
from tests.e2e.browser import CHROMIUM, SCREENSHOTS, Looked, chromium, person
from tests.e2e.web_journey import Site, ask_for_a_second_opinion, sign_in
from tests.platform import Platform

pytestmark = [
    pytest.mark.real,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]


@pytest.mark.timeout(600)
async def test_pages_fit_a_phone_and_a_desktop_and_refuse_what_they_must(
    platform: Platform,
) -> None:
    web = platform.url("web")
    site = Site(
        web=web,
        assignment=platform.url("assignment"),
        token=lambda role, subject: platform.issuer.issue(subject=subject, role=role),
        mail=lambda: [],
    )
    looked = Looked(SCREENSHOTS / "pages")
    async with chromium() as browser:
        parent = await (await person(browser, phone=True, locale="es-MX")).new_page()
        case_id = await ask_for_a_second_opinion(parent, site, looked)

        # The same form sent twice (a double tap, a retry after a dropped answer): one case.
        form = await (await person(browser, phone=False)).new_page()
        await form.goto(f"{web}/request")
        key = await form.input_value("input[name=idempotency_key]")
        fields = {
            "idempotency_key": key,
            "submitted_by": "guardian",
            "patient.given_name": "Tom",
            "patient.family_name": "Twice",
            "patient.date_of_birth": "2019-01-02",
            "patient.sex": "male",
            "guardian.name": "Ann Twice",
            "guardian.relationship": "mother",
            "guardian.email": "ann@example.org",
            "guardian.phone": "+1 555 0100 200",
            "referring_physician.name": "Dr. Lee",
            "referring_physician.organization": "Valley Pediatrics",
            "referring_physician.email": "lee@example.org",
            "referring_physician.phone": "+1 555 0100 300",
            "specialty": "not-sure",
            "working_diagnosis": "Unclear",
            "urgency": "urgent",
            "questions": "What is it?",
            "country": "US",
            "consent.agreed": "yes",
            "consent.given_by": "Ann Twice",
        }
        for shown in ("consent.text_version", "consent.language", "consent.text_sha256"):
            fields[shown] = await form.input_value(f"input[name='{shown}']")
        first = await form.request.post(f"{web}/request", form=fields)
        second = await form.request.post(f"{web}/request", form=fields)
        ids = [re.search(r"/c/([^?\"]+)\?", await r.text()) for r in (first, second)]
        assert ids[0] and ids[1] and ids[0].group(1) == ids[1].group(1)

        # That family withdraws its request from the case page; the page says so.
        twice = ids[0].group(1)
        await form.goto(f"{web}/c/{twice}")
        await form.click("#withdraw summary")
        await form.fill("#f-withdraw-reason", "We found care nearby.")
        await looked.at(form, "a family about to withdraw")
        await form.click("#withdraw button[type=submit]")
        await expect(form.locator(".alert.ok")).to_contain_text("withdrawn")
        await expect(form.locator(".alert.warn", has_text="cancelled")).to_be_visible()
        await expect(form.locator("#withdraw")).to_have_count(0)
        await looked.at(form, "a withdrawn request")
        # The parent then takes back the consent itself: recorded, and the page says when.
        await form.click("#consent summary")
        await form.click("#consent button[type=submit]")
        await expect(form.locator(".alert.ok")).to_contain_text("consent was withdrawn")
        await expect(form.locator("#consent")).to_contain_text("You withdrew your consent on")
        await looked.at(form, "consent withdrawn")

        for phone in (True, False):
            size = "phone" if phone else "desktop"
            staff = await (await person(browser, phone=phone)).new_page()
            await sign_in(staff, site, "intake-staff", "staff-1", "/staff")
            await looked.at(staff, f"queue on a {size}")
            await staff.goto(f"{web}/staff?urgency=urgent&status=cancelled")
            await expect(staff.locator("table.cases")).to_contain_text("Urgent")
            await staff.goto(f"{web}/staff/cases/{case_id}")
            await looked.at(staff, f"case detail on a {size}")
            await expect(staff.locator("dl.facts")).to_contain_text("SHA-256")
            await staff.goto(f"{web}/staff/cases/{twice}")
            await expect(staff.locator("dl.facts")).to_contain_text("Consent withdrawn on")
            await staff.goto(f"{web}/admin")
            await expect(staff.locator("h1")).to_have_text("This page is not for your role")
            await looked.at(staff, f"not for this role on a {size}")

            admin = await (await person(browser, phone=phone, locale="es-ES")).new_page()
            await sign_in(admin, site, "admin", "admin-1", "/admin")
            await looked.at(admin, f"roster and partners on a {size}")
            await admin.goto(f"{web}/sign-in")
            await looked.at(admin, f"sign-in on a {size}")
            width = await admin.evaluate("document.documentElement.scrollWidth")
            assert width <= (390 if phone else 1280)

        admin = await (await person(browser, phone=False)).new_page()
        await sign_in(admin, site, "admin", "admin-1", "/admin")
        row = admin.locator("#expert-ben-okafor")
        await row.locator("input[name=capacity]").fill("5")
        await row.locator("button[type=submit]").click()
        await expect(admin.locator(".alert.ok")).to_be_visible()
        await expect(admin.locator("#expert-ben-okafor input[name=capacity]")).to_have_value("5")

        # The coordinator revokes every link: the family's open session stops at the next page.
        staff = await (await person(browser, phone=False)).new_page()
        await sign_in(staff, site, "intake-staff", "staff-1", "/staff")
        await staff.goto(f"{web}/staff/cases/{case_id}")
        await staff.click("text=Revoke every link")
        await expect(staff.locator(".alert.ok")).to_contain_text("stops working")

        async def refused() -> bool:
            await parent.goto(f"{web}/c/{case_id}")
            return "retirado" in await parent.locator("main").inner_text()

        for _ in range(60):
            if await refused():
                break
            await parent.wait_for_timeout(500)
        await expect(parent.locator("main")).to_contain_text("retirado")
        await looked.at(parent, "a revoked link in the browser")

        # /docs of every service: Swagger UI from the service itself, nothing from elsewhere.
        docs = await (await person(browser, phone=False)).new_page()
        elsewhere: list[str] = []
        docs.on(
            "request",
            lambda r: elsewhere.append(r.url) if not r.url.startswith("http://127.0.0.1") else None,
        )
        for name in API_SERVICES:
            await docs.goto(f"{platform.url(name)}/docs")
            await expect(docs.locator(".swagger-ui .info .title")).to_be_visible(timeout=30_000)
        assert elsewhere == []
    assert looked.violations == {}
