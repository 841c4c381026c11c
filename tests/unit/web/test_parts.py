"""The pure parts of the web front door: catalogs, the language rule, the editor's update and
the unwrapping of a WADO-RS answer."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.datastructures import FormData

from services.web.expert import draft_update, first_part
from services.web.i18n import EN, ES, LANGUAGE_NAMES, LANGUAGES, pick_language, sentence_for
from services.web.public import FORM_FIELDS

TEMPLATES = Path("services/web/templates")


def test_every_language_has_every_sentence() -> None:
    assert set(EN) == set(ES)
    assert all(ES[key].strip() for key in ES)
    assert {"en", "es", "fr"} <= set(LANGUAGES)
    assert LANGUAGE_NAMES["fr"] == "Français"


def test_every_key_a_template_names_exists() -> None:
    named = set()
    for template in TEMPLATES.glob("*.html"):
        named |= set(re.findall(r"\bt\('([a-z_.-]+[a-z_])'", template.read_text()))
    assert named - set(EN) == set()


def test_every_request_form_field_has_a_label() -> None:
    labelled = {f for f in FORM_FIELDS if f"form.{f}" in EN}
    assert set(FORM_FIELDS) - labelled <= {"submitted_by", "questions", "time_zone"} - labelled


def test_the_language_follows_the_person() -> None:
    assert pick_language("es", "en", "en-US") == "es"
    assert pick_language(None, "es", "en-US") == "es"
    assert pick_language(None, None, "de-DE,es-MX;q=0.8") == "es"
    assert pick_language(None, None, "fr-CA,en;q=0.8") == "fr"
    assert pick_language(None, None, "en-GB,fr;q=0.8") == "en"
    assert pick_language("xx", None, None) == "en"


def test_a_service_code_becomes_a_sentence_or_names_itself() -> None:
    assert sentence_for("es", "too_many_requests").startswith("Demasiadas")
    assert "weird_code" in sentence_for("en", "weird_code")


def test_the_editor_sends_only_the_fields_it_has() -> None:
    form = FormData(
        [
            ("revision", "4"),
            ("diagnosis.proposed_diagnosis", "Group 4 medulloblastoma"),
            ("diagnosis.concordance", ""),
            ("answers.q1", "Yes."),
        ]
    )
    body = draft_update(form)
    assert body == {
        "revision": 4,
        "diagnosis": {"proposed_diagnosis": "Group 4 medulloblastoma", "concordance": None},
        "answers": {"q1": "Yes."},
    }


def test_trial_rows_without_an_identifier_are_left_out() -> None:
    form = FormData(
        [
            ("revision", "1"),
            ("trials.nct_id", "NCT01234567"),
            ("trials.title", "A trial"),
            ("trials.why_it_may_fit", "Age and stage"),
            ("trials.nct_id", ""),
            ("trials.title", ""),
            ("trials.why_it_may_fit", ""),
        ]
    )
    assert draft_update(form)["trials"] == [
        {"nct_id": "NCT01234567", "title": "A trial", "why_it_may_fit": "Age and stage"}
    ]


def test_one_instance_is_unwrapped_from_its_multipart_answer() -> None:
    dicom = b"\x00" * 128 + b"DICM" + b"\r\n--not-the-boundary"
    body = b"--b7\r\nContent-Type: application/dicom\r\n\r\n" + dicom + b"\r\n--b7--\r\n"
    assert first_part(body, 'multipart/related; type="application/dicom"; boundary=b7') == dicom
    assert first_part(b"garbage", "multipart/related; boundary=b7") is None


def test_the_services_refusals_people_meet_have_sentences() -> None:
    """The codes a form or button of these pages can get back (grep of the services)."""
    met = [
        "card_number_refused",
        "reference_required",
        "not_authorized",
        "too_many_requests",
        "consent_required",
        "date_in_future",
        "invalid_transition",
        "case_closed",
        "unchanged",
        "unknown_item",
        "not_dicom",
        "too_large",
        "empty_file",
        "unsafe_zip",
        "stale_revision",
        "unanswered_questions",
        "incomplete_report",
        "too_many_follow_ups",
        "offer_not_open",
        "not_the_lead",
        "already_signed",
        "amendment_open",
        "link_revoked",
        "idempotency_key_reused",
    ]
    assert [code for code in met if f"code.{code}" not in EN] == []
