"""The letterhead in the report's language, and the program's logo, from settings (a Spanish
report showed the English program and institution names)."""

from __future__ import annotations

from pathlib import Path

from services.reports.config import ReportsSettings
from services.reports.rendering import render_report
from tests.unit.reports.factories import opened
from tests.unit.reports.test_rendering import content

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2a3b2e40000000049454e44ae426082"
)


def test_a_spanish_report_carries_the_program_in_spanish_and_the_logo(tmp_path: Path) -> None:
    logo = tmp_path / "logo.png"
    logo.write_bytes(PNG)
    letterhead = ReportsSettings(logo_path=logo).letterhead()
    record = opened()
    spanish = render_report(record, content(record, "es"), letterhead)
    assert "Programa de Segunda Opinión a Distancia" in spanish
    assert "Remote Second Opinion Program" not in spanish
    assert 'src="data:image/png;base64,' in spanish
    english = render_report(record, content(record, "en"), letterhead)
    assert "Remote Second Opinion Program" in english


def test_without_a_logo_the_letterhead_has_no_image() -> None:
    record = opened()
    html = render_report(record, content(record, "en"), ReportsSettings().letterhead())
    assert 'class="logo"' not in html
