"""Settings for the audit service (environment variables prefixed `AUDIT_`)."""

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class AuditSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUDIT_", extra="ignore")

    http_port: int = 8006
