"""Every sentence a page shows, in each language of `locale/`; the language follows the person.

Chosen, in order: `?lang=` (remembered in a cookie), the cookie, the browser's Accept-Language,
English. The services' machine error codes map to sentences here, so a refused form says what
is wrong in the person's language. The sentences live in gettext
catalogues, `locale/<language>/LC_MESSAGES/web.po` (English is the source; message ids are the
keys the pages ask for); `tests/unit/test_catalogs.py` checks every catalogue has every key.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from shared.catalogs import load_catalogs, primary_language

LOCALE = Path(__file__).with_name("locale")
# language -> key -> sentence, from locale/<language>/LC_MESSAGES/web.po (English first).
CATALOGS: dict[str, dict[str, str]] = load_catalogs(LOCALE, "web")
EN = CATALOGS["en"]
ES = CATALOGS["es"]
LANGUAGES: tuple[str, ...] = tuple(CATALOGS)
# Each language's own name ("Français"), for the language menu and the form's choices.
LANGUAGE_NAMES = {lang: catalog.get("language.name", lang) for lang, catalog in CATALOGS.items()}
Translate = Callable[..., str]


def translator(language: str) -> Translate:
    catalog = CATALOGS.get(language, EN)

    def t(key: str, **values: Any) -> str:
        text = catalog.get(key) or EN.get(key) or key
        return text.format(**values) if values else text

    return t


def sentence_for(language: str, code: str) -> str:
    """A service's machine code as a sentence in the person's language."""
    t = translator(language)
    key = f"code.{code}"
    return t(key) if key in EN else t("code.other", code=code)


def pick_language(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return candidate
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip()
        if not tag or tag == "*":
            continue
        # "fr-CA" reads the French pages; a tag with no catalogue tries the next one.
        chosen = primary_language(tag, LANGUAGES)
        if chosen != "en" or tag.lower().startswith("en"):
            return chosen
    return "en"
