"""Settings for the reports service (environment variables prefixed `REPORTS_`)."""

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class ReportsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REPORTS_", extra="ignore")

    http_port: int = 8004
