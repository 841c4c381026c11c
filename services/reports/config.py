"""Settings for the reports service (environment variables prefixed `REPORTS_`)."""

import base64
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.reports.rendering import Letterhead
from shared.settings import ServiceSettings


class ReportsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REPORTS_", extra="ignore")

    http_port: int = 8004
    # Printed on every report: the names as given, and per report language (JSON, e.g.
    # '{"es": ["Programa de Segunda Opinión", "Hospital Infantil"]}'); a PNG or SVG logo.
    program_name: str = "Remote Second Opinion Program"
    institution_name: str = "Children's Hospital"
    letterhead_translations: dict[str, tuple[str, str]] = Field(
        default_factory=lambda: {
            "es": ("Programa de Segunda Opinión a Distancia", "Hospital Infantil")
        }
    )
    logo_path: Path | None = None
    # Where the records service answers, for the document and DICOMweb links in a draft.
    records_base_url: str = "http://127.0.0.1:8002"
    # The program's terms for questions after the report: how many per case, and for how many
    # days after the first version was issued.
    follow_up_per_case: int = Field(default=5, ge=0, le=50)
    follow_up_window_days: int = Field(default=30, ge=0, le=3650)
    # WeasyPrint is CPU-bound: PDFs are made in worker processes (or threads, in tests).
    pdf_executor: Literal["process", "thread"] = "process"
    pdf_workers: int = Field(default=2, ge=1, le=16)

    def letterhead(self) -> Letterhead:
        logo = None
        if self.logo_path is not None:
            kind = "svg+xml" if self.logo_path.suffix.lower() == ".svg" else "png"
            encoded = base64.b64encode(self.logo_path.read_bytes()).decode()
            logo = f"data:image/{kind};base64,{encoded}"
        return Letterhead(
            program=self.program_name,
            institution=self.institution_name,
            translated=self.letterhead_translations,
            logo=logo,
        )
