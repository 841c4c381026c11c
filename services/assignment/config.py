"""Settings for the assignment service (environment variables prefixed `ASSIGNMENT_`)."""

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class AssignmentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ASSIGNMENT_", extra="ignore")

    http_port: int = 8003
