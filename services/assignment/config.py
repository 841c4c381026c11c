"""Settings for the assignment service (environment variables prefixed `ASSIGNMENT_`)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from services.assignment.domain.service_levels import BusinessCalendar, ServiceLevelPolicy
from shared.settings import ServiceSettings

DEMO_ROSTER = Path(__file__).with_name("demo_roster.yaml")


class AssignmentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ASSIGNMENT_", extra="ignore")

    http_port: int = 8003
    # Upsert the roster in `demo_roster_path` at startup (`make run` turns this on).
    load_demo_roster: bool = False
    demo_roster_path: Path = DEMO_ROSTER
    offer_timeout_s: float = Field(default=24 * 3600, gt=0)
    # How often the background scan looks for expired offers and service-level points.
    # Offers expire in hours and service levels turn in business days; each pass reads every case.
    scan_interval_s: float = Field(default=30.0, gt=0)
    routine_business_days: int = Field(default=7, ge=1, le=60)
    urgent_business_days: int = Field(default=2, ge=1, le=60)
    at_risk_fraction: float = Field(default=0.75, gt=0, lt=1)
    # JSON list of ISO dates, e.g. ASSIGNMENT_HOLIDAYS='["2026-12-25"]'.
    holidays: list[date] = Field(default_factory=list)
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("timezone must be an IANA zone name such as Europe/Madrid") from None
        return value

    @property
    def offer_timeout(self) -> timedelta:
        return timedelta(seconds=self.offer_timeout_s)

    def service_level_policy(self) -> ServiceLevelPolicy:
        return ServiceLevelPolicy(
            business_days={
                "routine": self.routine_business_days,
                "urgent": self.urgent_business_days,
            },
            at_risk_fraction=self.at_risk_fraction,
            calendar=BusinessCalendar(holidays=frozenset(self.holidays), timezone=self.timezone),
        )
