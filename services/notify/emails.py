"""Email rendering from jinja2 templates, in the recipient's language where a translation
exists. The text part is the template; the HTML part wraps it in an autoescaped layout."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta

from services.notify.catalogs import sentence
from shared.contracts.financial_clearance_updated import money

TEMPLATES = Path(__file__).with_name("templates")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str
    language: str


def local_amounts(params: dict[str, Any], language: str) -> dict[str, Any]:
    """Amounts written as the email's reader writes them: each `<name>_minor` with the message's
    `currency` becomes `<name>` ("800,00 US$" in Spanish). Messages queued before amounts were
    kept raw have only `<name>`, in English, and keep it."""
    currency = params.get("currency")
    if not currency:
        return params
    amounts = {
        name.removesuffix("_minor"): money(value, currency, language)
        for name, value in params.items()
        if name.endswith("_minor") and isinstance(value, int)
    }
    return {**params, **amounts}


def template_environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
    )


class EmailRenderer:
    def __init__(self, *, team: str = "Second Opinion Team") -> None:
        self._env = template_environment()
        self._team = team
        self._fields: dict[tuple[str, str], frozenset[str]] = {}

    def render(self, template: str, language: str, params: dict[str, Any]) -> RenderedEmail:
        """Subject, text and HTML of one message; English when no translation exists."""
        language, source = self._template(template, language)
        rendered = source.render(**local_amounts(params, language)).strip()
        first, _, body = rendered.partition("\n")
        subject = first.removeprefix("Subject:").strip()
        text = body.strip() + "\n"
        paragraphs = [p.splitlines() for p in text.strip().split("\n\n")]
        html = self._env.get_template("emails/layout.html").render(
            language=language,
            subject=subject,
            team=self._team,
            paragraphs=paragraphs,
            footer=sentence(language, "email.footer"),
            link_label=sentence(language, "email.link_label"),
        )
        return RenderedEmail(subject=subject, text=text, html=html, language=language)

    def fields(self, template: str, language: str) -> frozenset[str]:
        """The names a template uses (such as `case_link`) in the language it renders in, so a
        link is made, and a token issued, only for a message that shows it."""
        key = (template, language)
        if key not in self._fields:
            _, source = self._template(template, language)
            assert self._env.loader is not None and source.name is not None
            text, _, _ = self._env.loader.get_source(self._env, source.name)
            names = jinja2.meta.find_undeclared_variables(self._env.parse(text))
            self._fields[key] = frozenset(names)
        return self._fields[key]

    def _template(self, template: str, language: str) -> tuple[str, jinja2.Template]:
        try:
            return language, self._env.get_template(f"emails/{language}/{template}.txt")
        except jinja2.TemplateNotFound:
            return "en", self._env.get_template(f"emails/en/{template}.txt")


def build_message(
    email: RenderedEmail,
    *,
    sender: str,
    to: str,
    delivery_id: str,
    sent_at: datetime | None = None,
    calendar: tuple[str, str] | None = None,
) -> EmailMessage:
    """A multipart message whose Message-ID derives from the delivery, so a receiving system
    can drop the rare repeat after a crash mid-send. `Date:` is required by RFC 5322 (spam
    filters score a message without one). `calendar` (the .ics text and its METHOD) rides
    along as a text/calendar part, which mail programs offer to add to the calendar."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Date"] = format_datetime(sent_at or datetime.now(UTC))
    message["Subject"] = email.subject
    message["Message-ID"] = f"<{_msgid_part(delivery_id)}@notify.second-opinion>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    if calendar is not None:
        text, method = calendar
        message.add_attachment(
            text.encode(),
            maintype="text",
            subtype="calendar",
            filename="invite.ics",
            params={"method": method, "charset": "UTF-8"},
        )
    # After add_alternative, which moves Content-* headers into the first part.
    message["Content-Language"] = email.language
    return message


def _msgid_part(delivery_id: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-." else "." for ch in delivery_id)
