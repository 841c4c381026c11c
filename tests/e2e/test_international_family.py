"""A family in a third language, on the real stack: a French-speaking family in Montreal asks
through the intake API, with an interpreter and a Spanish-speaking physician in Madrid; the
family's emails and report are French with dates in Montreal time, the physician's email and
report are Spanish with dates in Madrid time."""

from __future__ import annotations

from email.header import decode_header, make_header
from email.message import Message

import httpx
import pypdfium2 as pdfium
import pytest

from bench.journey import Journey
from tests.e2e.test_case_journey import MailSink, mail, platform_env, text_of
from tests.platform import Platform
from tests.support import eventually, sample_case

pytestmark = pytest.mark.real
__all__ = ["mail", "platform_env"]  # fixtures

FAMILY_EMAIL = "camille.parent@example.org"
DOCTOR_EMAIL = "dr.garcia@hospital.example.es"


def request_body() -> dict[str, object]:
    case = sample_case("unused")
    return {
        "submitted_by": "guardian",
        "patient": case.patient.model_dump(mode="json", exclude_none=True),
        "guardian": {
            "name": "Camille Fakeparent",
            "relationship": "mère",
            "email": FAMILY_EMAIL,
            "phone": "+1 514 555 0100",
            "preferred_language": "fr-CA",
            "time_zone": "America/Montreal",
            "interpreter_needed": True,
            "interpreter_language": "fr",
        },
        "referring_physician": {
            "name": "Dra. Lucía García",
            "organization": "Hospital Example",
            "email": DOCTOR_EMAIL,
            "phone": "+34 910 000 000",
            "preferred_language": "es",
            "time_zone": "Europe/Madrid",
        },
        "specialty": case.specialty,
        "working_diagnosis": case.working_diagnosis,
        "urgency": "routine",
        "questions": ["La protonthérapie est-elle une option ?"],
        "country": "CA",
        "consent": {"agreed": True, "given_by": "Camille Fakeparent", "text_version": "2026-01"},
    }


def subject_of(message: Message) -> str:
    return str(make_header(decode_header(str(message["Subject"]))))


def pdf_text(pdf: bytes) -> str:
    document = pdfium.PdfDocument(pdf)
    pages = (document[i].get_textpage().get_text_range() for i in range(len(document)))
    return " ".join(" ".join(pages).split())  # one space wherever a line was wrapped


async def test_a_french_family_and_a_spanish_physician_each_read_their_own_language(
    platform: Platform, mail: tuple[MailSink, int]
) -> None:
    sink, _ = mail
    async with httpx.AsyncClient(timeout=30) as http:
        urls = {name: platform.url(name) for name in platform.services}
        journey = Journey(urls, platform.issuer, http)
        bad_zone = request_body()
        bad_zone["guardian"] = {**bad_zone["guardian"], "time_zone": "Mars/Olympus"}  # type: ignore[dict-item]
        refused = await http.post(f"{urls['intake']}/cases", json=bad_zone)
        assert refused.status_code == 422 and "guardian.time_zone" in refused.text
        sent = await http.post(f"{urls['intake']}/cases", json=request_body())
        assert sent.status_code == 201, sent.text
        case_id = str(sent.json()["case_id"])

        staff_view = await http.get(f"{urls['intake']}/cases/{case_id}", headers=journey.staff)
        guardian = staff_view.json()["submission"]["guardian"]
        assert guardian["interpreter_needed"] and guardian["interpreter_language"] == "fr"

        await journey.send_records(case_id)
        expert_id = await journey.accept_offer(case_id)
        await journey.write_and_sign(case_id, expert_id)

        def report_mail(to: str) -> Message | None:
            for recipients, message in sink.messages:
                if to in recipients and "#report" in text_of(message):
                    return message
            return None

        to_family = await eventually(lambda: report_mail(FAMILY_EMAIL), within=90)
        to_doctor = await eventually(lambda: report_mail(DOCTOR_EMAIL), within=90)
        received = next(m for r, m in sink.messages if FAMILY_EMAIL in r)
        assert subject_of(received).startswith("Nous avons bien reçu votre demande")
        assert subject_of(to_family).startswith("Votre rapport de deuxième avis est prêt")
        assert to_family["Content-Language"] == "fr"
        assert "(America/Montreal)" in text_of(to_family)
        assert subject_of(to_doctor).startswith("Su informe de segunda opinión")
        assert "(Europe/Madrid)" in text_of(to_doctor)

        pdfs = {}
        for who, message in (("family", to_family), ("doctor", to_doctor)):
            link = next(w for w in text_of(message).split() if "access_token=" in w)
            async with httpx.AsyncClient(timeout=30, follow_redirects=True) as browser:
                page = await browser.get(link)
                assert page.status_code == 200
                pdf = await browser.get(f"{urls['web']}/c/{case_id}/report.pdf")
            assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
            pdfs[who] = pdf_text(pdf.content)

    family_pdf, doctor_pdf = pdfs["family"], pdfs["doctor"]
    assert "Rapport de deuxième avis à distance" in family_pdf
    assert "Compte rendu d'anatomopathologie" in family_pdf or "IRM" in family_pdf
    assert "(America/Montreal)" in family_pdf
    assert "Informe de segunda opinión a distancia" in doctor_pdf
    assert "(Europe/Madrid)" in doctor_pdf
