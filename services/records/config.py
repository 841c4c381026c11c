"""Settings for the records service (environment variables prefixed `RECORDS_`)."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.records.archive import ArchiveLimits
from shared.settings import ServiceSettings

GIB = 1024**3


class RecordsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="RECORDS_", extra="ignore")

    http_port: int = 8002
    # One request's files together; a DVD of imaging is 4.7 GB.
    max_upload_bytes: int = Field(default=5 * GIB, gt=0)
    max_archive_entries: int = Field(default=20_000, gt=0)
    max_archive_bytes: int = Field(default=20 * GIB, gt=0)
    max_compression_ratio: float = Field(default=100.0, gt=1)
    # Where uploads are spooled while they arrive; the system temporary directory if unset.
    spool_dir: Path | None = None
    # Instances checked and stored at the same time during one upload.
    store_concurrency: int = Field(default=8, ge=1, le=64)
    # A claim older than this, still pending, was left by a process that died mid-upload.
    stale_claim_s: float = Field(default=900, gt=0)
    # WADO-RS rendered: the largest frame decoded (rows x columns; a 4096 x 5120 mammogram is
    # 21 M) and how many instances are fetched and rendered at the same time.
    max_render_pixels: int = Field(default=40_000_000, gt=0)
    render_concurrency: int = Field(default=2, ge=1, le=16)

    def archive_limits(self) -> ArchiveLimits:
        return ArchiveLimits(
            max_entries=self.max_archive_entries,
            max_total_bytes=self.max_archive_bytes,
            max_ratio=self.max_compression_ratio,
        )
