"""Settings for the intake service (environment variables prefixed `INTAKE_`)."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from services.intake.fees import FeeItem
from shared.auth import LOCAL_ISSUER
from shared.settings import ServiceSettings

KIB = 1024


# A plausible program's prices (the seeds' programs charge for written opinions and reviews).
DEMO_FEE_SCHEDULE = (
    FeeItem(
        service="written-second-opinion",
        currency="USD",
        item="expert-review",
        amount_minor=75000,
        insurance_eligible=True,
    ),
    FeeItem(
        service="written-second-opinion",
        currency="USD",
        item="records-handling",
        amount_minor=5000,
    ),
    FeeItem(service="video-consult", currency="USD", item="expert-consult", amount_minor=45000),
    FeeItem(
        service="pathology-review",
        currency="USD",
        item="slide-review",
        amount_minor=60000,
        insurance_eligible=True,
    ),
    FeeItem(
        service="imaging-review",
        currency="USD",
        item="imaging-review",
        amount_minor=40000,
        insurance_eligible=True,
    ),
    FeeItem(
        service="written-second-opinion",
        currency="EUR",
        item="expert-review",
        amount_minor=70000,
        insurance_eligible=True,
    ),
)


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    http_port: int = 8001
    # Where families and physicians reach the records service (upload and checklist links).
    records_public_url: str = "http://127.0.0.1:8002"
    # How long a family's or physician's case link works; staff can issue a new one.
    link_ttl_s: int = Field(default=30 * 24 * 3600, ge=60)
    link_issuer: str = LOCAL_ISSUER
    # The consent texts the request form may cite (JSON list, e.g. '["2026-01"]').
    consent_versions: list[str] = Field(default_factory=lambda: ["2026-01"], min_length=1)
    # Per client address, on the public request form.
    submissions_per_minute: int = Field(default=10, ge=1)
    # Front doors whose X-Forwarded-For names the family's own address for the rate limit
    # (JSON list; `make run` trusts the web service on loopback).
    trusted_proxies: list[str] = Field(default_factory=list)
    max_form_bytes: int = Field(default=64 * KIB, gt=0)
    max_fhir_bytes: int = Field(default=2 * KIB * KIB, gt=0)
    # The program's retention period: a closed case (cancelled, or its report issued) is
    # erased this many days after it closed (0: never on our own; the family may still ask).
    retention_days: int = Field(default=0, ge=0)
    # How often the retention sweep looks for cases past their period.
    retention_sweep_s: float = Field(default=3600, gt=0)
    # The program's fees (JSON list of {service, currency, item, amount_minor,
    # insurance_eligible}; amounts in minor units, e.g. cents), shown as an estimate before a
    # family submits. The platform takes no payment.
    fee_schedule: list[FeeItem] = Field(default_factory=lambda: list(DEMO_FEE_SCHEDULE))
    # The currency the estimate on a new case is in (ISO 4217).
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    # On: a new case is offered to an expert only once financial clearance is marked
    # (self-pay, insurance pre-authorisation or waived).
    financial_clearance_required: bool = False

    @model_validator(mode="after")
    def _public_links_use_https_in_production(self) -> IntakeSettings:
        # Families open these links from home: a plain-http address would leak their token.
        production = self.stack.sop_environment == "production"
        if production and not self.records_public_url.startswith("https://"):
            raise ValueError("records_public_url must be an https:// address in production")
        return self
