"""Settings for the web front door (environment variables prefixed `WEB_`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

REPO = Path(__file__).resolve().parents[2]


class WebSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="WEB_", extra="ignore")

    http_port: int = 8000
    # Where the pages find the services' public HTTP APIs (the web owns no case data).
    intake_url: str = "http://127.0.0.1:8001"
    records_url: str = "http://127.0.0.1:8002"
    assignment_url: str = "http://127.0.0.1:8003"
    reports_url: str = "http://127.0.0.1:8004"
    notify_url: str = "http://127.0.0.1:8005"
    # The staff board lives in notify; the pages link to it.
    board_public_url: str = "http://127.0.0.1:8005/board"
    # The address people reach this service at (links in the confirmation page).
    public_url: str = "http://127.0.0.1:8000"
    # Files from this size go in parts straight to object storage (resumable); smaller ones
    # through this service in one request. The pages may connect to `upload_origin` (the S3
    # address browsers reach: records' presigned URLs name it); S3_ENDPOINT's if unset.
    resumable_from_bytes: int = Field(default=32 * 1024 * 1024, ge=1)
    upload_origin: str | None = None
    # Signs the CSRF tokens of the forms; one random value per process if unset (a restart
    # then asks open forms to be sent again). Production sets it, the same for every instance.
    session_secret: str = ""
    # Outside production only: a key that signs demo staff, expert and admin tokens for the
    # "Sign in as" buttons (`make run` passes its development identity key). Production signs
    # people in with the hospital's identity provider and pastes or posts its token.
    dev_signin_key_path: Path | None = None
    backend_timeout_s: float = Field(default=30, gt=0)
    upload_timeout_s: float = Field(default=3600, gt=0)
    assets_dir: Path = REPO / "deploy" / "web" / "node_modules"

    @property
    def upload_origin_or_default(self) -> str:
        if self.upload_origin:
            return self.upload_origin.rstrip("/")
        scheme = "https" if self.stack.s3_secure else "http"
        return f"{scheme}://{self.stack.s3_endpoint}"

    @property
    def production(self) -> bool:
        return self.stack.sop_environment == "production"

    @model_validator(mode="after")
    def _production_needs_a_secret(self) -> WebSettings:
        if self.production and not self.session_secret:
            raise ValueError("WEB_SESSION_SECRET must be set in production")
        if self.production and self.dev_signin_key_path is not None:
            raise ValueError("WEB_DEV_SIGNIN_KEY_PATH must not be set in production")
        return self
