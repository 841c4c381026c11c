"""Translation catalogues in gettext conventions, read from `.po` files when a service starts.

Each service keeps `locale/<language>/LC_MESSAGES/<domain>.po`; the English catalogue is the
source (its msgstr is the text, its msgid the key the code asks for), the others translate it.
The `.po` files are read as they are (Babel's reader), so there is no compile step, and a
translator edits one plain file per language. `tests/unit/test_catalogs.py` checks that every
catalogue has every English message, none fuzzy or empty, with the same `{placeholders}`.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po

SOURCE_LANGUAGE = "en"


def catalog_path(locale_dir: Path, language: str, domain: str) -> Path:
    return locale_dir / language / "LC_MESSAGES" / f"{domain}.po"


def read_catalog(path: Path) -> dict[str, str]:
    """key -> text of one `.po` file; fuzzy and untranslated entries are left out, so the
    caller's fallback (English) shows instead of a doubtful or empty sentence."""
    with path.open("rb") as file:
        catalog = read_po(file, abort_invalid=True)
    return {
        str(message.id): str(message.string)
        for message in catalog
        if message.id and message.string and not message.fuzzy
    }


def load_catalogs(locale_dir: Path, domain: str) -> dict[str, dict[str, str]]:
    """Every language found under `locale_dir`, English first (it is the source)."""
    languages = sorted(
        path.parent.parent.name for path in locale_dir.glob(f"*/LC_MESSAGES/{domain}.po")
    )
    ordered = [SOURCE_LANGUAGE, *(lang for lang in languages if lang != SOURCE_LANGUAGE)]
    return {lang: read_catalog(catalog_path(locale_dir, lang, domain)) for lang in ordered}


def primary_language(tag: str | None, available: tuple[str, ...] | dict[str, object]) -> str:
    """The catalogue for a BCP 47 tag: the tag itself ("pt-BR") if translated, else its
    primary language ("fr-CA" → "fr"), else English."""
    wanted = (tag or SOURCE_LANGUAGE).strip().replace("_", "-").lower()
    if wanted in available:
        return wanted
    primary = wanted.split("-", 1)[0]
    return primary if primary in available else SOURCE_LANGUAGE
