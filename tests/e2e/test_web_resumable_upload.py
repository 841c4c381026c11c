"""A family drags a large CD zip onto its case page in Chromium: the page sends it in parts
straight to object storage, a part lost to a dropped connection is sent again, and records
ingests the assembled file into the same checklist a posted file reaches."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.async_api import Route, expect

from tests.e2e.browser import CHROMIUM, SCREENSHOTS, Looked, chromium, person
from tests.e2e.web_journey import Site, ask_for_a_second_opinion
from tests.integration.records.samples import build_study, zip_of
from tests.platform import Platform

pytestmark = [
    pytest.mark.real,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]
MIB = 1024 * 1024


@pytest.fixture
def platform_env() -> dict[str, str]:
    return {"WEB_RESUMABLE_FROM_BYTES": str(4 * MIB)}


@pytest.mark.timeout(600)
async def test_a_large_cd_zip_goes_in_parts_and_survives_a_dropped_part(
    platform: Platform, tmp_path: Path
) -> None:
    web = platform.url("web")
    site = Site(
        web=web,
        assignment=platform.url("assignment"),
        token=lambda role, subject: platform.issuer.issue(subject=subject, role=role),
        mail=lambda: [],
    )
    study = build_study((("CT_small.dcm", 3), ("MR_small.dcm", 2)))
    cd = tmp_path / "cd.zip"
    cd.write_bytes(zip_of(study, extra={"VIEWER/data.bin": os.urandom(17 * MIB)}))
    looked = Looked(SCREENSHOTS / "resumable")
    async with chromium() as browser:
        parent = await (await person(browser, phone=True, locale="es-MX")).new_page()
        await ask_for_a_second_opinion(parent, site, looked)

        # The home connection drops while the second part is on its way.
        puts: list[str] = []

        async def flaky(route: Route) -> None:
            request = route.request
            if request.method == "PUT":
                puts.append(request.url)
                if "partNumber=2" in request.url and sum("partNumber=2" in u for u in puts) == 1:
                    await route.abort("connectionreset")
                    return
            await route.continue_()

        await parent.route("**/incoming/**", flaky)
        await parent.select_option("#f-kind", "mri-imaging")
        await parent.set_input_files("#f-file", str(cd))
        await parent.click("form[data-upload] button[type=submit]")
        await parent.wait_for_url("**notice=uploaded**", timeout=120_000)
        await looked.at(parent, "a large zip received in parts")
        part_twos = [u for u in puts if "partNumber=2" in u]
        assert len(part_twos) == 2  # dropped once, sent again
        assert all("/incoming/" in u for u in puts)  # the bytes went to object storage
        await expect(parent.locator("#records")).to_contain_text("CT")
