"""Settings that would be unsafe in production refuse to load there."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.intake.config import IntakeSettings
from shared.settings import StackSettings


def test_production_needs_an_https_records_address() -> None:
    production = StackSettings(
        sop_environment="production",
        s3_access_key="key",
        s3_secret_key="secret",
        kafka_security_protocol="SSL",
        sop_case_key_secret="a-production-secret-of-at-least-32-characters",
    )
    with pytest.raises(ValidationError, match="https"):
        IntakeSettings(stack=production, http_host="0.0.0.0")
    settings = IntakeSettings(
        stack=production, http_host="0.0.0.0", records_public_url="https://records.example.org"
    )
    assert settings.records_public_url.startswith("https://")
    assert IntakeSettings().records_public_url == "http://127.0.0.1:8002"  # development
