"""Outside development nothing secret may come from a default."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from shared.settings import StackSettings


def test_production_refuses_missing_storage_keys_and_unencrypted_buckets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("S3_ACCESS_KEY", "S3_SECRET_KEY", "S3_ENCRYPTION"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValidationError, match="S3_ACCESS_KEY"):
        StackSettings(sop_environment="production")
    keys = {"s3_access_key": SecretStr("k"), "s3_secret_key": SecretStr("s")}
    with pytest.raises(ValidationError, match="S3_ENCRYPTION"):
        StackSettings(sop_environment="production", s3_encryption="none", **keys)
    assert StackSettings(sop_environment="production", **keys).s3_encryption == "sse-s3"
