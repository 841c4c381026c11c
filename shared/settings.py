"""Settings read from the environment: the stack's addresses, and one prefix per service."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["development", "test", "production"]


class StackSettings(BaseSettings):
    """Where Kafka, the MongoDB-compatible server and the S3 store are; shared by every service."""

    model_config = SettingsConfigDict(extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    mongo_url: SecretStr = SecretStr("mongodb://127.0.0.1:27027/?maxPoolSize=1")
    s3_endpoint: str = "127.0.0.1:19000"
    s3_access_key: SecretStr = SecretStr("")
    s3_secret_key: SecretStr = SecretStr("")
    s3_secure: bool = False
    # Buckets encrypt every object at rest with the server's KMS key (SSE-S3); the local MinIO
    # gets a generated key (deploy/local/stack.py). "none" is for S3 servers without a KMS.
    s3_encryption: Literal["sse-s3", "none"] = "sse-s3"
    # Prefixes every topic and database name, so parallel test runs never share state.
    sop_namespace: str = Field(default="", pattern=r"^[a-z0-9_]*$")
    sop_environment: Environment = "development"

    @model_validator(mode="after")
    def _secrets_from_the_environment_in_production(self) -> StackSettings:
        if self.sop_environment == "production":
            if (
                not self.s3_access_key.get_secret_value()
                or not self.s3_secret_key.get_secret_value()
            ):
                raise ValueError("S3_ACCESS_KEY and S3_SECRET_KEY must be set in production")
            if self.s3_encryption != "sse-s3":
                raise ValueError("S3_ENCRYPTION must be sse-s3 in production")
        return self

    def topic(self, event_type: str) -> str:
        return f"{self.sop_namespace}{event_type}"

    def database(self, service: str) -> str:
        return f"{self.sop_namespace}{service}"

    def bucket(self, service: str) -> str:
        # S3 bucket names allow no underscores and must start with a letter or digit.
        return f"{self.sop_namespace}{service}".replace("_", "-").strip("-")


class ServiceSettings(BaseSettings):
    """Base for a service's own settings; subclasses set `env_prefix` (e.g. `INTAKE_`)."""

    model_config = SettingsConfigDict(extra="ignore")

    http_host: str = "127.0.0.1"
    http_port: int = 8000
    log_level: str = "INFO"
    stack: StackSettings = Field(default_factory=StackSettings)

    @model_validator(mode="after")
    def _loopback_unless_production(self) -> ServiceSettings:
        # Outside production the services never listen beyond this machine.
        if self.stack.sop_environment != "production" and self.http_host not in (
            "127.0.0.1",
            "localhost",
            "::1",
        ):
            raise ValueError("http_host must be a loopback address outside production")
        return self
