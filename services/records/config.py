"""Settings for the records service (environment variables prefixed `RECORDS_`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from services.records.archive import ArchiveLimits
from shared.settings import ServiceSettings

MIB = 1024**2
GIB = 1024**3
LOOPBACK = ("127.0.0.1", "localhost", "::1")
AE_TITLE_LENGTH = 16  # PS3.5: an AE value is at most 16 characters, leading/trailing spaces aside


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
    # One upload's instances are stored as packs of about this size (packs.py): few objects
    # per study, and one pack uploading while the next fills.
    pack_bytes: int = Field(default=256 * MIB, gt=0)
    # A claim older than this, still pending, was left by a process that died mid-upload.
    stale_claim_s: float = Field(default=900, gt=0)
    # WADO-RS rendered: the largest frame decoded (rows x columns; a 4096 x 5120 mammogram is
    # 21 M) and how many instances are fetched and rendered at the same time.
    max_render_pixels: int = Field(default=40_000_000, gt=0)
    render_concurrency: int = Field(default=2, ge=1, le=16)
    # Resumable uploads straight to the bucket (resumable.py): how long an upload may take
    # before the sweep aborts it, how long one presigned part URL works, how often to sweep,
    # and the S3 address browsers reach (presigned URLs name it) if not S3_ENDPOINT.
    upload_session_ttl_s: int = Field(default=24 * 3600, ge=60)
    upload_url_ttl_s: int = Field(default=900, ge=60, le=7 * 24 * 3600)
    upload_sweep_interval_s: float = Field(default=60, gt=0)
    s3_public_endpoint: str | None = None
    s3_public_secure: bool = False

    # DICOM C-STORE SCP for PACS and modalities (services/records/dimse.py); off without a port.
    dimse_port: int | None = Field(default=None, ge=1, le=65535)
    dimse_host: str = "127.0.0.1"
    # The AE title PACS call this service by.
    dimse_ae_title: str = "SOP-RECORDS"
    # Calling AE title -> organization id: whose cases a PACS may push to (JSON in the env).
    dimse_calling_aes: dict[str, str] = Field(default_factory=dict)
    # How long a C-STORE waits for its instance to be stored before answering 0xA700.
    dimse_store_timeout_s: float = Field(default=120, gt=0)

    @model_validator(mode="after")
    def _dimse_configured(self) -> RecordsSettings:
        if self.dimse_port is None:
            return self
        if not self.dimse_calling_aes:
            raise ValueError("dimse_calling_aes: no calling AE title, so every PACS is refused")
        for title in [self.dimse_ae_title, *self.dimse_calling_aes]:
            if not _valid_ae_title(title):
                raise ValueError("dimse: an AE title is 1-16 characters, not all spaces")
        if not all(self.dimse_calling_aes.values()):
            raise ValueError("dimse_calling_aes: every AE title names an organization id")
        # Outside production the services never listen beyond this machine.
        if self.stack.sop_environment != "production" and self.dimse_host not in LOOPBACK:
            raise ValueError("dimse_host must be a loopback address outside production")
        return self

    def dimse_organization_of(self, calling_ae_title: str) -> str | None:
        """The organization a calling AE title stands for (titles are case-sensitive)."""
        return self.dimse_calling_aes.get(calling_ae_title.strip())

    def archive_limits(self) -> ArchiveLimits:
        return ArchiveLimits(
            max_entries=self.max_archive_entries,
            max_total_bytes=self.max_archive_bytes,
            max_ratio=self.max_compression_ratio,
        )


def _valid_ae_title(title: str) -> bool:
    return 0 < len(title.strip()) <= AE_TITLE_LENGTH and title.isprintable() and "\\" not in title
