"""The rendered report: hostile text stays text, fixed parts follow the family's language,
the disclaimer is always there, and the PDF is a real, paged document."""

from __future__ import annotations

import pypdfium2 as pdfium
import pytest

from services.reports.domain import ReportRecord, Sections, language_of
from services.reports.rendering import Letterhead, ReportContent, render_pdf, render_report
from tests.unit.reports.factories import LEAD, NOW, SURGEON, complete_sections, opened

LETTERHEAD = Letterhead(program="Remote Second Opinion Program", institution="Test Hospital")
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def content(record: ReportRecord, language: str = "en", **sections: object) -> ReportContent:
    return ReportContent(
        sections=Sections.model_validate(complete_sections(record, **sections)),
        language=language,
        version=1,
        signed_by=LEAD,
        co_authors=(SURGEON,),
        issued_at=NOW,
    )


def test_the_family_and_the_expert_cannot_inject_markup() -> None:
    case = opened().model_copy(deep=True)
    assert case.facts is not None
    questions = [q.model_copy(update={"text": f"{q.text} {HOSTILE}"}) for q in case.facts.questions]
    facts = case.facts.model_copy(update={"questions": questions, "patient_name": HOSTILE})
    record = case.model_copy(update={"facts": facts})
    hostile = content(
        record,
        summary=f"Line one {HOSTILE}\n\n</p></div><h1>forged</h1>",
        trials=[{"nct_id": "NCT02724579", "title": HOSTILE, "why_it_may_fit": HOSTILE}],
        follow_up=[HOSTILE],
    )
    html = render_report(record, hostile, LETTERHEAD)
    assert "<script" not in html and "<img" not in html and "<h1>forged" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "&lt;/p&gt;&lt;/div&gt;&lt;h1&gt;forged&lt;/h1&gt;" in html


def test_paragraphs_and_line_breaks_of_plain_text_are_kept() -> None:
    record = opened()
    html = render_report(record, content(record, summary="one\ntwo\n\nthree"), LETTERHEAD)
    assert "<p>one<br>two</p>\n<p>three</p>" in html


def test_fixed_parts_follow_the_family_language_and_the_disclaimer_is_always_there() -> None:
    record = opened(language="es")
    spanish = render_report(record, content(record, "es"), LETTERHEAD)
    assert '<html lang="es">' in spanish
    assert "Informe de segunda opinión a distancia" in spanish
    assert "Respuestas a sus preguntas" in spanish
    assert "sin un examen presencial" in spanish
    assert "el médico tratante y la familia toman juntos" in spanish
    english = render_report(record, content(record, "de"), LETTERHEAD)
    assert '<html lang="en">' in english
    assert "without an in-person examination" in english
    assert "the treating physician and the family make every decision" in english


def test_a_french_report_has_no_english_left_in_its_fixed_parts() -> None:
    record = opened(language="fr")
    french = render_report(record, content(record, "fr"), LETTERHEAD)
    assert '<html lang="fr">' in french
    assert "Rapport de deuxième avis à distance" in french
    assert "sans examen clinique de l&#39;enfant en personne" in french
    # Document kinds, modalities, counts and dates come from the catalogue too.
    assert "Compte rendu d&#39;anatomopathologie — pathology-2026-10-02.pdf" in french
    assert "IRM — MRI brain and spine with contrast, pre-operative (20 septembre 2026)" in french
    assert "9 séries / 812 images" in french
    assert " series / " not in french and "Pathology report" not in french


def test_one_series_is_singular_and_an_unknown_kind_shows_as_given() -> None:
    record = opened(language="es")
    assert record.manifest is not None
    study = record.manifest.studies[0].model_copy(update={"series_count": 1, "instance_count": 1})
    kind = record.manifest.documents[0].model_copy(update={"kind": "csf-cytology"})
    manifest = record.manifest.model_copy(update={"studies": [study], "documents": [kind]})
    html = render_report(
        record.model_copy(update={"manifest": manifest}), content(record, "es"), LETTERHEAD
    )
    assert "1 serie / 1 imagen" in html and "RM — " in html and "csf-cytology — " in html


def test_the_draft_preview_is_marked_as_a_draft() -> None:
    record = opened()
    assert record.draft is not None
    draft = ReportContent(sections=record.draft.sections, language="en", draft=True)
    html = render_report(record, draft, LETTERHEAD)
    assert "DRAFT" in html and "without an in-person examination" in html


@pytest.mark.parametrize("language", ["en", "es", "fr"])
def test_the_pdf_has_pages_the_disclaimer_and_no_child_name_in_the_running_header(
    language: str,
) -> None:
    record = opened(language=language)
    plan_language = language_of(language, ("en", "es"))
    pdf = render_pdf(render_report(record, content(record, plan_language), LETTERHEAD))
    assert pdf.startswith(b"%PDF-")
    document = pdfium.PdfDocument(pdf)
    pages = [document[n].get_textpage().get_text_range() for n in range(len(document))]
    assert 2 <= len(pages) <= 5
    second = pages[1]
    assert "Remote Second Opinion Program" in second and "case-0001" in second
    assert "Quinterofake" not in second.split("\n")[0]
    label = "Página" if language == "es" else "Page"
    assert f"{label} 2 " in second.replace("\r", "")
    last = " ".join(pages[-1].split())
    disclaimer = "sin un examen presencial" if language == "es" else "in-person examination"
    assert disclaimer in last
