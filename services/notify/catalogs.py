"""The sentences of notify's emails that are not in a template (the footer, the link button,
a calendar invitation's title), from `locale/<language>/LC_MESSAGES/notify.po`.

An email's body is its template, `templates/emails/<language>/<name>.txt`; a language is
offered to recipients when it has this catalogue (see the README, "Adding a language"), and a
template it lacks falls back to English.
"""

from __future__ import annotations

from pathlib import Path

from shared.catalogs import load_catalogs

LOCALE = Path(__file__).with_name("locale")
CATALOGS: dict[str, dict[str, str]] = load_catalogs(LOCALE, "notify")
LANGUAGES: tuple[str, ...] = tuple(CATALOGS)


def sentence(language: str, key: str) -> str:
    """The sentence in `language`, else in English."""
    return CATALOGS.get(language, {}).get(key) or CATALOGS["en"][key]
