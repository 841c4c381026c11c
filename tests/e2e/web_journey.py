"""The whole second-opinion journey by browser only (tests/e2e/test_web_journey.py runs it on
the platform the tests start; it also runs against `make run`: `python -m tests.e2e.web_journey`).

A parent asks on a phone in Spanish and uploads a CD folder; the coordinator asks for the one
missing item; the parent uploads it; the expert accepts, looks at an image in the viewer, writes
and signs in Spanish; the parent reads the report and asks a follow-up; the expert answers; the
parent reads the answer. Only finding who got the offer reads an API (as the board would show).
"""

from __future__ import annotations

import asyncio
import io
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import Message
from pathlib import Path
from typing import TypeVar

import httpx
from playwright.async_api import Browser, Page, expect
from pydicom import dcmread

from shared.auth import Role
from tests.e2e.browser import SCREENSHOTS, Looked, chromium, person
from tests.integration.records.samples import CASE_PATIENT, build_study

# A one-page PDF, small and well-formed.
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
WAIT_MS = 60_000
T = TypeVar("T")


@dataclass
class Site:
    web: str
    assignment: str
    token: Callable[[Role, str], str]
    # Emails sent so far: (recipients, text).
    mail: Callable[[], list[tuple[list[str], str]]]


async def walk(browser: Browser, site: Site, looked: Looked, files: Path) -> str:
    """Returns the case id; raises (an assertion or a Playwright timeout) at the first step
    that does not work."""
    family = await person(browser, phone=True, locale="es-MX", zone="America/Mexico_City")
    parent = await family.new_page()
    case_id = await ask_for_a_second_opinion(parent, site, looked)

    await parent.select_option("#f-kind", "mri-imaging")
    await parent.set_input_files("#f-folder", cd_folder(files))
    await upload(parent)
    for kind in ("pathology-report", "treatment-records"):
        await parent.select_option("#f-kind", kind)
        await parent.set_input_files("#f-file", pdf_file(files, kind))
        await upload(parent)
    await expect(parent.locator(".item-present", has_text="Resonancia")).to_be_visible()
    await looked.at(parent, "family uploaded the CD folder and two documents")

    staff = await (await person(browser, phone=False)).new_page()
    await sign_in(staff, site, "intake-staff", "staff-1", "/staff")
    await expect(staff.locator("h1")).to_have_text(re.compile("Case queue"))
    await looked.at(staff, "coordinator queue")
    await staff.click(f"a[href='/staff/cases/{case_id}']")
    await expect(staff.locator("h1")).to_contain_text(case_id)
    await looked.at(staff, "coordinator case detail")
    for box in await staff.locator("input[name=items]:checked").all():
        await box.uncheck()
    await staff.check("input[name=items][value=current-medications]")
    await staff.fill("#f-req-message", "Please send the current medication list.")
    await staff.click("#req-h + form button[type=submit]")
    await expect(staff.locator(".alert.ok")).to_be_visible()
    await looked.at(staff, "coordinator requested one missing item")
    # A program that requires financial clearance (the tests' and `make run`'s do): the
    # coordinator marks the insurer's pre-authorisation, or no expert is offered the case.
    clearance = staff.locator("#clearance form")
    if await clearance.count():
        await staff.select_option("#f-clear-method", "insurance-preauthorization")
        await staff.fill("#f-clear-reference", "PA-DEMO-0001")
        await clearance.locator("button[type=submit]").click()
        await expect(staff.locator("#clearance")).to_contain_text("PA-DEMO-0001")
        await looked.at(staff, "coordinator marked the financial clearance")
    await eventually(lambda: _mailed(site, "documento"), "the family's email asking for records")

    await parent.goto(f"{site.web}/c/{case_id}")
    await expect(parent.locator(".item-missing", has_text="Medicación actual")).to_be_visible()
    # What the coordinator asked for, and her message, reach the family on the case page.
    await expect(parent.locator("#asked")).to_contain_text("current medication list")
    await looked.at(parent, "family reads what the intake team asked for")
    await parent.select_option("#f-kind", "current-medications")
    await parent.set_input_files("#f-file", pdf_file(files, "medications"))
    await upload(parent)
    await looked.at(parent, "family uploaded the missing item")

    expert_id = await eventually(lambda: _offered_to(site, case_id), "an offer for the case")
    expert = await (await person(browser, phone=False, locale="es-ES")).new_page()
    await sign_in(expert, site, "expert", expert_id, "/expert/offers")
    offer = expert.locator("li.offer", has_text=case_id)
    await expect(offer).to_be_visible()
    await looked.at(expert, "expert offers")
    await offer.locator("button", has_text="Aceptar").click()
    await expect(expert.locator("h1")).to_contain_text(case_id)
    await expect(expert.locator("#editor")).to_be_visible(timeout=WAIT_MS)
    await looked.at(expert, "expert workspace")

    await expert.locator("a.button", has_text="Ver").first.click()
    await expect(expert.locator("#viewer[data-state=loaded]")).to_be_attached(timeout=WAIT_MS)
    await expect(expert.locator("#layerGroup0 canvas").first).to_be_visible()
    await looked.at(expert, "expert image viewer")
    await expert.go_back()

    await write_report_in_spanish(expert)
    await looked.at(expert, "expert wrote the report")
    await expert.click("button[name=then][value=sign]")
    await expect(expert.locator(".alert.ok")).to_contain_text("firmado")
    await looked.at(expert, "expert signed")

    await parent.goto(f"{site.web}/c/{case_id}")
    await expect(parent.locator("#report a", has_text="Leer el informe")).to_be_visible()
    await looked.at(parent, "family sees the report")
    await parent.click("#report a.button.primary")
    await expect(parent.locator("body")).to_contain_text("Meduloblastoma clásico")
    await parent.screenshot(path=looked.folder / "report.png", full_page=True)
    await parent.go_back()
    await parent.fill("#f-question", "¿Cuándo debería repetirse la resonancia?")
    await parent.click("#follow-ups button[type=submit]")
    await expect(parent.locator(".follow-ups")).to_contain_text("repetirse")
    await looked.at(parent, "family asked a follow-up question")

    await parent.fill("#f-question", "¿Puede volver a nadar en la piscina del colegio?")
    await parent.click("#follow-ups button[type=submit]")
    await expect(parent.locator(".follow-ups")).to_contain_text("piscina")

    await expert.goto(f"{site.web}/expert/cases/{case_id}")
    first, second = expert.locator("#follow-ups li").nth(0), expert.locator("#follow-ups li").nth(1)
    await first.locator("textarea").fill("En tres meses, con la misma técnica.")
    await first.locator(".answer-form button[type=submit]").click()
    await expect(expert.locator("#follow-ups .answer")).to_contain_text("tres meses")
    await looked.at(expert, "expert answered the follow-up")
    # The second is better answered by the family's own team: closed, with the reason.
    await second.locator("details summary").click()
    await second.locator("select[name=reason]").select_option("out-of-scope")
    await looked.at(expert, "expert closes a question without a written answer")
    await second.locator("details button[type=submit]").click()
    await expect(expert.locator("#follow-ups li").nth(1)).to_contain_text("Cerrada")

    await parent.goto(f"{site.web}/c/{case_id}")
    await expect(parent.locator("#follow-ups .answer")).to_contain_text("tres meses")
    await expect(parent.locator("#follow-ups")).to_contain_text("equipo de admisión")
    await looked.at(parent, "family reads the answer")
    return case_id


async def ask_for_a_second_opinion(parent: Page, site: Site, looked: Looked) -> str:
    await parent.goto(f"{site.web}/")
    await looked.at(parent, "landing on a phone")
    await parent.click("text=Pedir una segunda opinión")
    # Sent empty first: every error is shown next to its field, in Spanish.
    await parent.click("form button[type=submit]")
    await expect(parent.locator("#error-summary")).to_contain_text("obligatorio")
    await looked.at(parent, "request form with errors")
    given, family_name = "Amelia", "Quinterofake"
    await parent.fill("#f-patient-given_name", given)
    await parent.fill("#f-patient-family_name", family_name)
    birth = CASE_PATIENT["birth_date"]
    await parent.fill("#f-patient-date_of_birth", f"{birth[:4]}-{birth[4:6]}-{birth[6:]}")
    await parent.select_option("#f-patient-sex", "female")
    await parent.fill("#f-patient-mrn", CASE_PATIENT["patient_id"])
    await parent.fill("#f-guardian-name", "María Quintero")
    await parent.fill("#f-guardian-relationship", "madre")
    await parent.fill("#f-guardian-email", "maria.quintero@example.org")
    await parent.fill("#f-guardian-phone", "+52 55 1234 5678")
    await parent.select_option("#f-guardian-preferred_language", "es")
    await parent.fill("#f-referring_physician-name", "Dra. Elena Gómez")
    await parent.fill("#f-referring_physician-organization", "Hospital Infantil del Norte")
    await parent.fill("#f-referring_physician-email", "egomez@example.org")
    await parent.fill("#f-referring_physician-phone", "+52 81 8765 4321")
    await parent.select_option("#f-specialty", "neuro-oncology")
    await parent.fill("#f-working_diagnosis", "Meduloblastoma")
    await parent.select_option("#f-urgency", "routine")
    await parent.fill("#f-questions", "¿Es correcto el diagnóstico?\n¿Hay ensayos clínicos?")
    await parent.fill("#f-country", "MX")
    await parent.check("#f-consent-agreed")
    await parent.fill("#f-consent-given_by", "María Quintero")
    # What was typed survived the refusal; sending twice (a double tap) makes one case.
    await parent.click("form button[type=submit]")
    await expect(parent.locator("#case-link")).to_be_visible()
    await looked.at(parent, "request received")
    link = await parent.input_value("#case-link")
    case_id = link.split("/c/")[1].split("?")[0]
    await parent.click("text=Abrir la página de su caso")
    await expect(parent.locator("h1")).to_contain_text("Su caso")
    await looked.at(parent, "family case page")
    return case_id


async def upload(page: Page) -> None:
    await page.click("form[data-upload] button[type=submit]")
    await page.wait_for_url(re.compile(r"notice=uploaded"), timeout=WAIT_MS)


async def sign_in(page: Page, site: Site, role: Role, subject: str, after: str) -> None:
    await page.goto(f"{site.web}/sign-in?next={after}")
    await page.fill("#f-token", site.token(role, subject))
    await page.click("form.panel button[type=submit]")
    await page.wait_for_url(f"**{after}")


async def write_report_in_spanish(expert: Page) -> None:
    await expert.fill("#f-summary", "Revisamos la resonancia y la patología de Amelia.")
    await expert.select_option("#f-concordance", "confirmed")
    await expert.fill("#f-original_diagnosis", "Meduloblastoma")
    await expert.fill("#f-proposed_diagnosis", "Meduloblastoma clásico, grupo 4")
    await expert.fill("#f-discussion", "Las imágenes y la patología concuerdan.")
    await expert.select_option("#f-plan", "none")
    await expert.fill("#f-recs", "Continuar el protocolo actual.")
    answers = expert.locator("textarea[name^='answers.']")
    for index in range(await answers.count()):
        await answers.nth(index).fill(f"Respuesta {index + 1}: sí, según los registros.")
    # Autosave keeps the draft while typing; signing saves the form once more first.
    await expect(expert.locator(".save-state")).to_contain_text("guardado", timeout=WAIT_MS)


def cd_folder(files: Path) -> Path:
    """An MR series of three slices 5 mm apart, in a CD's folder layout."""
    folder = files / "cd"
    for number, instance in enumerate(build_study((("MR_small.dcm", 3),))):
        ds = dcmread(io.BytesIO(instance.data))
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y, z + 5 * number]
        path = folder / instance.path
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path)
    return folder / "CD"


def pdf_file(files: Path, name: str) -> Path:
    path = files / f"{name}.pdf"
    path.write_bytes(PDF)
    return path


async def eventually(check: Callable[[], Awaitable[T | None]], what: str) -> T:
    for _ in range(240):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.5)
    raise AssertionError(f"never happened: {what}")


def readable(message: Message) -> str:
    """An email's subject and plain-text body, decoded."""
    subject = str(make_header(decode_header(str(message.get("Subject", "")))))
    texts = [
        part.get_payload(decode=True).decode()  # type: ignore[union-attr]
        for part in message.walk()
        if part.get_content_type() == "text/plain"
    ]
    return "\n".join([subject, *texts])


async def _mailed(site: Site, text: str) -> bool:
    return any(text in body for _, body in site.mail())


async def _offered_to(site: Site, case_id: str) -> str | None:
    headers = {"authorization": f"Bearer {site.token('intake-staff', 'staff-1')}"}
    async with httpx.AsyncClient(timeout=10) as http:
        found = await http.get(f"{site.assignment}/cases/{case_id}", headers=headers)
    if found.status_code != 200:
        return None
    offer = found.json().get("open_offer")
    return str(offer["lead"]["expert_id"]) if offer else None


async def _against_make_run() -> int:
    """`python -m tests.e2e.web_journey`: the same walk against `make run` on this machine."""
    import email
    import tempfile

    from shared.auth import dev_identity_issuer

    state = Path(".state/stack")
    issuer = dev_identity_issuer((state / "auth" / "dev-identity-key.pem").read_bytes())

    def mail() -> list[tuple[list[str], str]]:
        found = []
        for path in (state / "mail").glob("*/*"):
            message = email.message_from_bytes(path.read_bytes())
            found.append(([str(message["To"])], readable(message)))
        return found

    site = Site(
        web="http://127.0.0.1:8000",
        assignment="http://127.0.0.1:8003",
        token=lambda role, subject: issuer.issue(subject=subject, role=role),
        mail=mail,
    )
    looked = Looked(SCREENSHOTS / "make-run")
    async with chromium() as browser:
        with tempfile.TemporaryDirectory() as files:
            case_id = await walk(browser, site, looked, Path(files))
    print(f"case {case_id}: {looked.count} pages; axe-core blocking: {looked.violations}")
    return 1 if looked.violations else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_against_make_run()))
