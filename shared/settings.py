"""Settings read from the environment: the stack's addresses, and one prefix per service."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from aiokafka.helpers import create_ssl_context
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The development key-encryption secret for the cases' data keys (shared/case_keys.py): fine
# for `make run` and the tests, refused in production (a key everyone can read protects nothing).
DEVELOPMENT_CASE_KEY_SECRET = "development-only-case-key-secret-not-for-production"
Environment = Literal["development", "test", "production"]
KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaSaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class StackSettings(BaseSettings):
    """Where Kafka, the MongoDB-compatible server and the S3 store are; shared by every service."""

    model_config = SettingsConfigDict(extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    # Transport security (deploy/PRODUCTION.md): each service authenticates with its own SASL
    # user, so broker ACLs can limit it to the topics it reads and writes.
    kafka_security_protocol: KafkaSecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: KafkaSaslMechanism = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")
    # A private CA for the brokers' certificates (the system's trust store otherwise); a client
    # certificate and key for mutual TLS.
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    # Production refuses unencrypted Kafka unless this says the network is trusted (compose).
    kafka_allow_plaintext: bool = False
    mongo_url: SecretStr = SecretStr("mongodb://127.0.0.1:27027/")
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
    # The key-encryption key's secret: every case's data key is wrapped with a key derived from
    # it (shared/case_keys.py). After a rotation the earlier secrets, comma-separated, still
    # unwrap the keys they wrapped (deploy/PRODUCTION.md); new keys use the current one.
    sop_case_key_secret: SecretStr = SecretStr(DEVELOPMENT_CASE_KEY_SECRET)
    sop_case_key_previous_secrets: SecretStr = SecretStr("")

    @model_validator(mode="after")
    def _kafka_credentials_complete(self) -> StackSettings:
        if self.kafka_security_protocol.startswith("SASL_") and (
            not self.kafka_sasl_username or not self.kafka_sasl_password.get_secret_value()
        ):
            raise ValueError(
                "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD must be set with "
                f"KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol}"
            )
        return self

    @model_validator(mode="after")
    def _secrets_from_the_environment_in_production(self) -> StackSettings:
        if self.sop_environment == "production":
            if self.kafka_security_protocol in ("PLAINTEXT", "SASL_PLAINTEXT") and not (
                self.kafka_allow_plaintext
            ):
                raise ValueError(
                    "KAFKA_SECURITY_PROTOCOL must be SSL or SASL_SSL in production "
                    "(KAFKA_ALLOW_PLAINTEXT=true only on a network you trust)"
                )
            if (
                not self.s3_access_key.get_secret_value()
                or not self.s3_secret_key.get_secret_value()
            ):
                raise ValueError("S3_ACCESS_KEY and S3_SECRET_KEY must be set in production")
            if self.s3_encryption != "sse-s3":
                raise ValueError("S3_ENCRYPTION must be sse-s3 in production")
            secret = self.sop_case_key_secret.get_secret_value()
            if secret == DEVELOPMENT_CASE_KEY_SECRET or len(secret) < 32:
                raise ValueError(
                    "SOP_CASE_KEY_SECRET must be set in production, at least 32 characters "
                    "(not the development default)"
                )
        return self

    def kafka_client_options(self) -> dict[str, Any]:
        """Security keyword arguments for every aiokafka producer, consumer and admin client."""
        options: dict[str, Any] = {"security_protocol": self.kafka_security_protocol}
        if self.kafka_security_protocol in ("SSL", "SASL_SSL"):
            options["ssl_context"] = create_ssl_context(
                cafile=self.kafka_ssl_cafile,
                certfile=self.kafka_ssl_certfile,
                keyfile=self.kafka_ssl_keyfile,
            )
        if self.kafka_security_protocol.startswith("SASL_"):
            options["sasl_mechanism"] = self.kafka_sasl_mechanism
            options["sasl_plain_username"] = self.kafka_sasl_username
            options["sasl_plain_password"] = self.kafka_sasl_password.get_secret_value()
        return options

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
    # On SIGTERM: how long the consumer, relay and HTTP server get to finish what they hold
    # before they are cancelled (what is not committed is redelivered to the next process).
    shutdown_grace_s: float = Field(default=10, gt=0, le=120)
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
