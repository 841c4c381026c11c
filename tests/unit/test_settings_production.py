"""Outside development nothing secret may come from a default."""

from __future__ import annotations

import ssl

import pytest
from pydantic import SecretStr, ValidationError

from shared.settings import StackSettings

CASE_KEY_SECRET = "a-production-secret-of-at-least-32-characters"
KAFKA_VARIABLES = (
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
    "KAFKA_SSL_CAFILE",
    "KAFKA_ALLOW_PLAINTEXT",
)


def test_production_refuses_missing_storage_keys_and_unencrypted_buckets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("S3_ACCESS_KEY", "S3_SECRET_KEY", "S3_ENCRYPTION", *KAFKA_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValidationError, match="S3_ACCESS_KEY"):
        StackSettings(sop_environment="production", kafka_security_protocol="SSL")
    keys = {
        "s3_access_key": SecretStr("k"),
        "s3_secret_key": SecretStr("s"),
        "kafka_security_protocol": "SSL",
        "sop_case_key_secret": SecretStr(CASE_KEY_SECRET),
    }
    with pytest.raises(ValidationError, match="S3_ENCRYPTION"):
        StackSettings(sop_environment="production", s3_encryption="none", **keys)
    assert StackSettings(sop_environment="production", **keys).s3_encryption == "sse-s3"


def test_production_refuses_unencrypted_kafka_unless_the_network_is_declared_trusted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in KAFKA_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    keys = {
        "s3_access_key": SecretStr("k"),
        "s3_secret_key": SecretStr("s"),
        "sop_case_key_secret": SecretStr(CASE_KEY_SECRET),
    }
    for protocol in ("PLAINTEXT", "SASL_PLAINTEXT"):
        with pytest.raises(ValidationError, match="KAFKA_SECURITY_PROTOCOL must be SSL"):
            StackSettings(
                sop_environment="production",
                kafka_security_protocol=protocol,
                kafka_sasl_username="intake",
                kafka_sasl_password=SecretStr("pw"),
                **keys,
            )
    trusted = StackSettings(sop_environment="production", kafka_allow_plaintext=True, **keys)
    assert trusted.kafka_client_options() == {"security_protocol": "PLAINTEXT"}
    # Development keeps the local stack's plain listener.
    assert StackSettings().kafka_client_options() == {"security_protocol": "PLAINTEXT"}


def test_sasl_ssl_builds_a_verifying_tls_context_and_the_service_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in KAFKA_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "svc-records")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "from-the-secret-store")
    monkeypatch.setenv("S3_ACCESS_KEY", "k")
    monkeypatch.setenv("S3_SECRET_KEY", "s")
    monkeypatch.setenv("SOP_ENVIRONMENT", "production")
    monkeypatch.setenv("SOP_CASE_KEY_SECRET", CASE_KEY_SECRET)
    stack = StackSettings()
    options = stack.kafka_client_options()
    context = options.pop("ssl_context")
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert options == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "svc-records",
        "sasl_plain_password": "from-the-secret-store",
    }
    assert "from-the-secret-store" not in repr(stack)


def test_sasl_without_a_password_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KAFKA_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValidationError, match="KAFKA_SASL_PASSWORD"):
        StackSettings(kafka_security_protocol="SASL_SSL", kafka_sasl_username="svc-intake")


def test_production_refuses_the_development_case_key_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("SOP_CASE_KEY_SECRET", "S3_ENCRYPTION", *KAFKA_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    keys = {
        "s3_access_key": SecretStr("k"),
        "s3_secret_key": SecretStr("s"),
        "kafka_security_protocol": "SSL",
    }
    with pytest.raises(ValidationError, match="SOP_CASE_KEY_SECRET"):
        StackSettings(sop_environment="production", **keys)
    with pytest.raises(ValidationError, match="SOP_CASE_KEY_SECRET"):
        StackSettings(sop_environment="production", sop_case_key_secret=SecretStr("short"), **keys)
    secret = SecretStr(CASE_KEY_SECRET)
    assert StackSettings(sop_environment="production", sop_case_key_secret=secret, **keys)
