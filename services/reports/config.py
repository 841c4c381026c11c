"""Settings for the reports service (environment variables prefixed `REPORTS_`)."""

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.reports.rendering import Letterhead
from shared.settings import ServiceSettings


class ReportsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REPORTS_", extra="ignore")

    http_port: int = 8004
    # Printed on every page of every report.
    program_name: str = "Remote Second Opinion Program"
    institution_name: str = "Children's Hospital"
    # Where the records service answers, for the document and DICOMweb links in a draft.
    records_base_url: str = "http://127.0.0.1:8002"
    # WeasyPrint is CPU-bound: PDFs are made in worker processes (or threads, in tests).
    pdf_executor: Literal["process", "thread"] = "process"
    pdf_workers: int = Field(default=2, ge=1, le=16)

    def letterhead(self) -> Letterhead:
        return Letterhead(program=self.program_name, institution=self.institution_name)
