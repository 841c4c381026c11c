"""Email templates: languages, escaping, and no clinical details."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.notify.domain.recipients import Template
from services.notify.emails import EmailRenderer, build_message

RENDERER = EmailRenderer()
PARAMS: dict[str, Any] = {
    "case_id": "case-0001",
    "case_link": "https://intake.example.org/cases/case-0001/status",
    "report_link": "https://reports.example.org/cases/case-0001/reports/r1?access_token=tok",
    "link_expires": "2026-12-01",
    "items": 2,
    "version": 2,
    "expert_name": "Dr. Ana",
    "due_at": "2026-11-30 17:00 UTC",
    "expires_at": "2026-11-25 09:00 UTC",
    "reason": "out-of-scope",
    "kind": "video",
    "attendees": "both",
    "interpreter_language": "es",
    "slots": ["2026-12-08 10:00-10:45 (America/Mexico_City, UTC-06:00)"],
    "when": "2026-12-08 10:00-10:45 (America/Mexico_City, UTC-06:00)",
    "meeting_url": "https://meet.example.org/abc",
    "total": "$1,200.00",
    "insurance": "$900.00",
    "method": "insurance-preauthorization",
}
TEMPLATES: list[Template] = [
    "request-received",
    "records-requested",
    "records-complete",
    "offer-made",
    "offer-accepted",
    "no-expert",
    "service-level-at-risk",
    "service-level-overdue",
    "report-issued",
    "report-amended",
    "follow-up-asked",
    "follow-up-answered",
    "follow-up-closed",
    "consult-requested",
    "consult-proposed",
    "consult-rescheduled",
    "consult-confirmed",
    "consult-cancelled",
    "financial-clearance-required",
    "financial-clearance-cleared",
]


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_template_renders_a_subject_a_text_and_an_html_part(template: Template) -> None:
    email = RENDERER.render(template, "en", PARAMS)
    assert email.subject and "case-0001" in email.subject
    assert "case-0001" in email.text
    assert "<html" in email.html


def test_spanish_where_translated_english_otherwise() -> None:
    spanish = RENDERER.render("report-issued", "es", PARAMS)
    assert spanish.language == "es"
    assert spanish.subject.startswith("Su informe de segunda opinión está listo")
    assert "Abrir de forma segura" in spanish.html
    staff_only = RENDERER.render("offer-made", "es", PARAMS)
    assert staff_only.language == "en"


def test_the_report_email_carries_the_secure_link_and_nothing_attached() -> None:
    email = RENDERER.render("report-issued", "en", PARAMS)
    assert PARAMS["report_link"] in email.text
    message = build_message(email, sender="Team <no-reply@x.org>", to="a@b.org", delivery_id="e1")
    parts = [part.get_content_type() for part in message.walk()]
    assert parts == ["multipart/alternative", "text/plain", "text/html"]
    assert message["Message-ID"] == "<e1@notify.second-opinion>"


def test_values_are_escaped_in_the_html_part() -> None:
    hostile = {**PARAMS, "expert_name": '<script>alert("x")</script>'}
    email = RENDERER.render("offer-accepted", "en", hostile)
    assert "<script>" not in email.html
    assert "&lt;script&gt;" in email.html


def test_the_message_id_is_the_same_for_the_same_delivery() -> None:
    email = RENDERER.render("records-complete", "en", PARAMS)
    first = build_message(email, sender="a@b.org", to="c@d.org", delivery_id="e1:email:guardian")
    again = build_message(email, sender="a@b.org", to="c@d.org", delivery_id="e1:email:guardian")
    assert first["Message-ID"] == again["Message-ID"]


@pytest.mark.parametrize(
    "template",
    ["consult-proposed", "consult-rescheduled", "consult-confirmed", "consult-cancelled"],
)
def test_consult_emails_for_the_family_are_in_spanish_and_show_their_times(
    template: Template,
) -> None:
    email = RENDERER.render(template, "es", {**PARAMS, "reason": "other"})
    assert email.language == "es"
    assert "America/Mexico_City" in email.text
    staff = RENDERER.render(
        template, "en", {k: v for k, v in PARAMS.items() if k != "link_expires"}
    )
    assert "secure link" not in staff.text


FAMILY_TEMPLATES = sorted(p.stem for p in Path("services/notify/templates/emails/es").glob("*.txt"))


@pytest.mark.parametrize("language", ["es", "fr"])
@pytest.mark.parametrize("template", FAMILY_TEMPLATES)
def test_each_language_writes_every_family_email_with_the_english_values(
    language: str, template: Template
) -> None:
    email = RENDERER.render(template, language, PARAMS)
    assert email.language == language and "case-0001" in email.subject
    assert f'<html lang="{language}">' in email.html
    assert RENDERER.fields(template, language) <= RENDERER.fields(template, "en")


def test_a_french_family_reads_french_and_a_canadian_tag_finds_it() -> None:
    from services.notify.domain.recipients import language_for

    assert language_for("fr-CA") == "fr" and language_for("de-AT") == "en"
    email = RENDERER.render("report-issued", "fr", PARAMS)
    assert email.subject.startswith("Votre rapport de deuxième avis est prêt")
    assert "valable jusqu'au 2026-12-01" in email.text
    assert "Ouvrir de façon sécurisée" in email.html
    assert "Ce message a été envoyé automatiquement" in email.html
