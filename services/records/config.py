"""Settings for the records service (environment variables prefixed `RECORDS_`)."""

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class RecordsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="RECORDS_", extra="ignore")

    http_port: int = 8002
