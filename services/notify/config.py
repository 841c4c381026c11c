"""Settings for the notify service (environment variables prefixed `NOTIFY_`)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.notify.domain.deliveries import EMAIL_SCHEDULE_S, WEBHOOK_SCHEDULE_S
from shared.settings import ServiceSettings


class NotifySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFY_", extra="ignore")

    http_port: int = 8005
    # The mail relay (a local sink such as aiosmtpd in development).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_starttls: bool = False
    smtp_use_tls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_s: float = Field(default=15.0, gt=0)
    mail_from: str = "Second Opinion Team <no-reply@second-opinion.localhost>"
    # The intake team's shared mailbox: offers accepted, service levels, no expert available.
    staff_email: str = "intake-team@second-opinion.localhost"
    # Where an expert's mail goes when no address was registered for them (None: skip).
    expert_email_template: str | None = None
    # Links in emails open pages of the web front door. A family's or physician's link carries
    # a fresh case-scoped token in `{token}` (none is issued for a template without it); the
    # report link may also use `{report_id}`. Staff and experts sign in: their links have none.
    case_link_template: str = "http://127.0.0.1:8000/c/{case_id}?access_token={token}"
    report_link_template: str = "http://127.0.0.1:8000/c/{case_id}?access_token={token}#report"
    staff_case_link_template: str = "http://127.0.0.1:8000/staff/cases/{case_id}"
    expert_link_template: str = "http://127.0.0.1:8000/expert/cases/{case_id}"
    expert_offers_link: str = "http://127.0.0.1:8000/expert/offers"
    link_ttl_s: int = Field(default=14 * 24 * 3600, ge=60)
    # The reports API as partners reach it: a report webhook carries its URLs and a token for
    # that one case, valid this long (None: webhooks name only internal storage).
    reports_url: str | None = None
    partner_link_ttl_s: int = Field(default=3 * 24 * 3600, ge=60)
    # Events older than this cause no message (a replay of history must not mail anyone).
    message_max_age_s: float = Field(default=2 * 24 * 3600, gt=0)
    email_retry_schedule_s: list[float] = Field(default_factory=lambda: list(EMAIL_SCHEDULE_S))
    webhook_retry_schedule_s: list[float] = Field(default_factory=lambda: list(WEBHOOK_SCHEDULE_S))
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    # Deliveries in flight at once: per partner (or the mail relay), and in all.
    per_target_concurrency: int = Field(default=2, ge=1, le=32)
    total_concurrency: int = Field(default=32, ge=1, le=512)
    dispatch_interval_s: float = Field(default=1.0, gt=0)
    # How long a message waits for its recipient's address (an event that overtook the
    # case's submission) before it is logged as skipped.
    address_wait_s: float = Field(default=3600.0, gt=0)
    # A send that neither finished nor failed within this is assumed lost (process died).
    send_lease_s: float = Field(default=120.0, gt=0)
    # The staff board: SSE queue per subscriber, keep-alive period, events kept for resume.
    board_queue_size: int = Field(default=256, ge=8)
    board_keepalive_s: float = Field(default=15.0, gt=0)
    board_replay_size: int = Field(default=2048, ge=0)
    # Rebuild the timeline from the topics at start when the store holds no case.
    rebuild_when_empty: bool = True
