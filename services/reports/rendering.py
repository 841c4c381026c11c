"""`render_report()`: a report's sections into print-quality HTML (jinja2, autoescaped), and
that HTML into a PDF (WeasyPrint). The family's and the expert's text are data, never markup.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from services.reports.domain import FollowUp, ReportRecord, Sections
from services.reports.i18n import LABELS, count, long_date
from shared.contracts.expert_assigned import ExpertRef

TEMPLATES = Path(__file__).with_name("templates")


@dataclass(frozen=True)
class Letterhead:
    """The program's name, institution and logo printed on every report; the names in the
    report's language where the program gave them (`translated`: language -> (program,
    institution)), else as given."""

    program: str
    institution: str
    translated: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    # A data: URI (read once at start), so rendering never reaches a file or the network.
    logo: str | None = None

    def names(self, language: str) -> tuple[str, str]:
        return self.translated.get(language, (self.program, self.institution))


@dataclass(frozen=True)
class ReportContent:
    """One report to render: a signed version, or the draft for a preview."""

    sections: Sections
    language: str
    version: int | None = None
    amends_version: int | None = None
    change_summary: str | None = None
    signed_by: ExpertRef | None = None
    co_authors: tuple[ExpertRef, ...] = ()
    issued_at: datetime | None = None
    follow_ups: tuple[FollowUp, ...] = ()
    draft: bool = False
    # The IANA zone the reader's dates are written in (None: UTC).
    time_zone: str | None = None


def paragraphs(text: str | None) -> Markup:
    """Plain text as paragraphs: blank lines part them, single newlines break lines."""
    blocks = [b.strip() for b in (text or "").replace("\r\n", "\n").split("\n\n")]
    html = [
        Markup("<p>{}</p>").format(Markup("<br>").join(escape(line) for line in b.split("\n")))
        for b in blocks
        if b
    ]
    return Markup("\n").join(html)


def css_string(text: str) -> Markup:
    """A CSS string literal of any text: everything but ASCII letters and digits is written as
    a six-digit CSS escape, so nothing can end the string or the style sheet."""
    escaped = "".join(ch if ch.isascii() and ch.isalnum() else f"\\{ord(ch):06x}" for ch in text)
    return Markup(f'"{escaped}"')


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,  # every template, whatever its file name
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["paragraphs"] = paragraphs
    env.filters["css_string"] = css_string
    return env


@cache
def _css() -> Markup:
    # Our own stylesheet, inlined so the stored HTML stands alone.
    return Markup((TEMPLATES / "report.css").read_text(encoding="utf-8"))


def render_report(record: ReportRecord, content: ReportContent, letterhead: Letterhead) -> str:
    """The report as one standalone HTML page in `content.language` (English as fallback)."""
    language = content.language if content.language in LABELS else "en"
    facts, manifest, authors = record.facts, record.manifest, record.authors
    zone = _zone(content.time_zone)
    context: dict[str, Any] = {
        "lang": language,
        "t": LABELS[language],
        "css": _css(),
        "program": letterhead.names(language)[0],
        "institution": letterhead.names(language)[1],
        "logo": letterhead.logo,
        "case_id": record.case_id,
        "version": content.version,
        "amends_version": content.amends_version,
        "change_summary": content.change_summary,
        "draft": content.draft,
        "patient_name": facts.patient_name if facts else "",
        "date_of_birth": _day(facts.date_of_birth, language) if facts else "",
        "sex": facts.sex if facts else None,
        "referring_physician": facts.referring_physician if facts else "",
        "referring_organization": facts.referring_organization if facts else "",
        "specialty": facts.specialty if facts else "",
        "questions": facts.questions if facts else [],
        "documents": manifest.documents if manifest else [],
        "studies": manifest.studies if manifest else [],
        "count": lambda noun, n: count(language, noun, n),
        "study_day": lambda raw: _study_day(raw, language),
        "issued_at": _local_day(content.issued_at, zone, language) if content.issued_at else "",
        "issued_time": _local_time(content.issued_at, zone) if content.issued_at else "",
        "due_at": _local_day(authors.due_at, zone, language) if authors else "",
        "signed_by": content.signed_by.display_name if content.signed_by else None,
        "co_authors": [m.display_name for m in content.co_authors],
        "follow_ups": list(content.follow_ups),
        "s": content.sections,
    }
    return _environment().get_template("report.html.j2").render(context)


def render_pdf(html: str) -> bytes:
    """The HTML as a PDF. CPU-bound and blocking: call it from a worker, not the event loop."""
    from weasyprint import HTML  # type: ignore[import-untyped]  # heavy; imported by workers

    pdf: bytes = HTML(string=html, base_url=str(TEMPLATES)).write_pdf(font_config=_fonts())
    return pdf


_worker = threading.local()


def _fonts() -> Any:
    """One font configuration per worker thread: building it costs about a sixth of a render,
    and Pango's font map is not shared across threads."""
    fonts = getattr(_worker, "fonts", None)
    if fonts is None:
        from weasyprint.text.fonts import FontConfiguration  # type: ignore[import-untyped]

        fonts = _worker.fonts = FontConfiguration()
    return fonts


def warm_up() -> None:
    """Load WeasyPrint and the fonts once, so the first real report is not the slow one."""
    render_pdf("<p>warm-up</p>")


def _day(iso: str, language: str) -> str:
    return long_date(date.fromisoformat(iso), language)


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _local_day(moment: datetime, zone: ZoneInfo, language: str) -> str:
    return long_date(moment.astimezone(zone).date(), language)


def _local_time(moment: datetime, zone: ZoneInfo) -> str:
    """`17:05 (Europe/Paris)`: the time of day, with the zone it is in."""
    return f"{moment.astimezone(zone):%H:%M} ({zone.key})"


def _study_day(raw: str, language: str) -> str:
    """A DICOM study date (YYYYMMDD, or ISO) as a long date; as given when it is not one."""
    try:
        return long_date(date.fromisoformat(raw), language)
    except ValueError:
        return raw
