"""Turnaround targets counted in business days, and the at-risk and overdue points."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict

from shared.contracts.common import Urgency

ServiceLevelState = Literal["not-started", "on-track", "at-risk", "overdue", "stopped"]
ServiceLevelChange = Literal["service-level-at-risk", "service-level-overdue"]
DAY = timedelta(days=1)
# A calendar with no business day at all would never end; no real one comes close.
_MAX_DAYS_SCANNED = 3660


@dataclass(frozen=True)
class BusinessCalendar:
    """Monday to Friday in one time zone, minus holidays."""

    holidays: frozenset[date] = frozenset()
    timezone: str = "UTC"

    def is_business_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays

    def add(self, start: datetime, business_time: timedelta) -> datetime:
        """The instant `business_time` of business days after `start` (weekends don't count)."""
        zone = ZoneInfo(self.timezone)
        cursor = start.astimezone(zone).replace(tzinfo=None)
        remaining = business_time
        for _ in range(_MAX_DAYS_SCANNED):
            next_midnight = datetime.combine(cursor.date() + DAY, time())
            if self.is_business_day(cursor.date()):
                if remaining <= next_midnight - cursor:
                    return (cursor + remaining).replace(tzinfo=zone).astimezone(UTC)
                remaining -= next_midnight - cursor
            cursor = next_midnight
        raise ValueError("the calendar has no business days")

    def local_date(self, instant: datetime) -> date:
        return instant.astimezone(ZoneInfo(self.timezone)).date()


@dataclass(frozen=True)
class ServiceLevelPolicy:
    """Business days allowed per urgency, and the share of the window after which it is at risk."""

    business_days: Mapping[str, int] = field(default_factory=lambda: {"routine": 7, "urgent": 2})
    at_risk_fraction: float = 0.75
    calendar: BusinessCalendar = BusinessCalendar()

    def start(self, urgency: Urgency, started_at: datetime) -> ServiceLevel:
        window = timedelta(days=self.business_days[urgency])
        # Whole seconds: the stores keep milliseconds, and a due time is never finer than that.
        started_at = started_at.replace(microsecond=0)
        return ServiceLevel(
            started_at=started_at,
            due_at=self.calendar.add(started_at, window),
            at_risk_at=self.calendar.add(started_at, window * self.at_risk_fraction),
        )


class ServiceLevel(BaseModel):
    """The clock of one case: started when its records were ready, stopped by its report."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    started_at: AwareDatetime
    due_at: AwareDatetime
    at_risk_at: AwareDatetime
    at_risk_raised: bool = False
    overdue_raised: bool = False
    stopped_at: AwareDatetime | None = None

    def state(self, now: datetime) -> ServiceLevelState:
        if self.stopped_at is not None:
            return "stopped"
        if now >= self.due_at:
            return "overdue"
        return "at-risk" if now >= self.at_risk_at else "on-track"

    def changes_due(self, now: datetime) -> list[ServiceLevelChange]:
        """The states reached and not yet announced; each is announced once, in order."""
        if self.stopped_at is not None:
            return []
        due: list[ServiceLevelChange] = []
        if not self.at_risk_raised and now >= self.at_risk_at:
            due.append("service-level-at-risk")
        if not self.overdue_raised and now >= self.due_at:
            due.append("service-level-overdue")
        return due

    def announced(self, changes: list[ServiceLevelChange]) -> ServiceLevel:
        return self.model_copy(
            update={
                "at_risk_raised": self.at_risk_raised or "service-level-at-risk" in changes,
                "overdue_raised": self.overdue_raised or "service-level-overdue" in changes,
            }
        )

    def stop(self, at: datetime) -> ServiceLevel:
        return self if self.stopped_at else self.model_copy(update={"stopped_at": at})


def service_level_state(level: ServiceLevel | None, now: datetime) -> ServiceLevelState:
    return "not-started" if level is None else level.state(now)
