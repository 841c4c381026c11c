"""The fixed parts of a report in each language it is written in (English is the fallback).

The sentences live in gettext catalogues, `locale/<language>/LC_MESSAGES/reports.po`, English
being the source; a new `.po` there is a new report language (see the README, "Adding a
language"). Keys the template builds from data (`kind_<checklist item>`, `modality_<DICOM
code>`, `specialty_<id>`) fall back to the data itself when a catalogue lacks them.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from shared.catalogs import load_catalogs

LOCALE = Path(__file__).with_name("locale")
_CATALOGS = load_catalogs(LOCALE, "reports")
# language -> key -> text; each language falls back to English key by key.
LABELS: dict[str, dict[str, str]] = {
    lang: {**_CATALOGS["en"], **catalog} for lang, catalog in _CATALOGS.items()
}
LANGUAGES: tuple[str, ...] = tuple(LABELS)


def labels(language: str) -> dict[str, str]:
    return LABELS.get(language, LABELS["en"])


def long_date(day: date, language: str) -> str:
    t = labels(language)
    return t["long_date"].format(day=day.day, month=t[f"month_{day.month}"], year=day.year)


def count(language: str, noun: str, n: int) -> str:
    """ "1 series", "40 images": the catalogue's `<noun>_one` for one, `<noun>_other` else."""
    return labels(language)[f"{noun}_one" if n == 1 else f"{noun}_other"].format(n=n)
