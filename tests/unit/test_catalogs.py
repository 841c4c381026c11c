"""Every translation catalogue (`services/*/locale/<language>/LC_MESSAGES/<domain>.po`) has
every message of the English one, none fuzzy or empty, with the same `{placeholders}`, so a
sentence never shows half-translated or breaks when its values are filled in."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from shared.catalogs import primary_language

CATALOGUES = sorted(Path("services").glob("*/locale/*/LC_MESSAGES/*.po"))
TRANSLATIONS = [p for p in CATALOGUES if p.parent.parent.name != "en"]


def messages(path: Path) -> dict[str, tuple[str, bool]]:
    with path.open("rb") as file:
        catalog = read_po(file, abort_invalid=True)
    return {str(m.id): (str(m.string), m.fuzzy) for m in catalog if m.id}


def english_of(path: Path) -> Path:
    return path.parents[2] / "en" / "LC_MESSAGES" / path.name


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_each_service_has_an_english_spanish_and_french_catalogue() -> None:
    found = {(p.parents[3].name, p.parent.parent.name) for p in CATALOGUES}
    for service in ("web", "reports", "notify"):
        assert {(service, "en"), (service, "es"), (service, "fr")} <= found


@pytest.mark.parametrize("path", TRANSLATIONS, ids=str)
def test_a_catalogue_translates_every_english_message_with_the_same_placeholders(
    path: Path,
) -> None:
    english, translated = messages(english_of(path)), messages(path)
    assert set(english) - set(translated) == set(), "missing"
    assert set(translated) - set(english) == set(), "not in the English catalogue"
    for key, (text, fuzzy) in translated.items():
        assert not fuzzy, key
        assert text.strip(), key
        assert placeholders(text) == placeholders(english[key][0]), key


@pytest.mark.parametrize("path", [p for p in CATALOGUES if p.parent.parent.name == "en"], ids=str)
def test_the_english_source_has_no_empty_or_fuzzy_message(path: Path) -> None:
    for key, (text, fuzzy) in messages(path).items():
        assert text.strip() and not fuzzy, key


@pytest.mark.parametrize(
    ("tag", "expected"),
    [("fr", "fr"), ("fr-CA", "fr"), ("FR_ca", "fr"), ("es-MX", "es"), ("de", "en"), (None, "en")],
)
def test_a_language_tag_picks_its_catalogue_or_english(tag: str | None, expected: str) -> None:
    assert primary_language(tag, ("en", "es", "fr")) == expected
