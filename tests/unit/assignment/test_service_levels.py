"""The service-level clock counts business days (Mon-Fri, minus holidays) from records.ready."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.assignment.domain.service_levels import (
    BusinessCalendar,
    ServiceLevelPolicy,
    service_level_state,
)
from shared.contracts.common import Urgency

MONDAY_9 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FRIDAY_15 = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)
SATURDAY_10 = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)


def at(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("urgency", "started", "due"),
    [
        ("routine", MONDAY_9, at(11, 9)),  # Mon + 7 business days = Wed next week
        ("urgent", MONDAY_9, at(4, 9)),
        ("urgent", FRIDAY_15, at(10, 15)),  # the weekend does not count
        ("urgent", SATURDAY_10, at(11, 0)),  # counting starts Monday 00:00
        ("routine", FRIDAY_15, at(17, 15)),
    ],
)
def test_due_dates_skip_weekends(urgency: Urgency, started: datetime, due: datetime) -> None:
    assert ServiceLevelPolicy().start(urgency, started).due_at == due


def test_holidays_do_not_count() -> None:
    calendar = BusinessCalendar(holidays=frozenset({date(2026, 3, 3), date(2026, 3, 9)}))
    policy = ServiceLevelPolicy(calendar=calendar)
    # Tue 3rd and Mon 9th are holidays: Mon 2nd 09:00 + 2 days = Thu 5th 09:00.
    assert policy.start("urgent", MONDAY_9).due_at == at(5, 9)
    assert policy.start("routine", MONDAY_9).due_at == at(13, 9)


def test_business_days_follow_the_configured_time_zone() -> None:
    calendar = BusinessCalendar(timezone="Europe/Madrid")
    # Friday 23:30 UTC is already Saturday in Madrid, so counting starts Monday 00:00 there.
    started = datetime(2026, 3, 6, 23, 30, tzinfo=UTC)
    due = ServiceLevelPolicy(calendar=calendar).start("urgent", started).due_at
    assert due == datetime(2026, 3, 10, 23, 0, tzinfo=UTC)  # Wednesday 00:00 in Madrid (UTC+1)


def test_at_risk_is_reached_when_the_configured_share_of_business_time_has_passed() -> None:
    level = ServiceLevelPolicy().start("routine", MONDAY_9)
    assert level.at_risk_at == at(9, 15)  # 5.25 business days later
    urgent = ServiceLevelPolicy().start("urgent", FRIDAY_15)
    assert urgent.at_risk_at == at(10, 3)  # 1.5 business days: Fri 9 h, Mon 24 h, Tue 3 h
    strict = ServiceLevelPolicy(at_risk_fraction=0.5, business_days={"routine": 4, "urgent": 1})
    assert strict.start("routine", MONDAY_9).at_risk_at == at(4, 9)


def test_the_state_moves_from_on_track_to_at_risk_to_overdue() -> None:
    level = ServiceLevelPolicy().start("urgent", MONDAY_9)
    assert service_level_state(None, MONDAY_9) == "not-started"
    assert level.state(MONDAY_9) == "on-track"
    assert level.state(level.at_risk_at - timedelta(seconds=1)) == "on-track"
    assert level.state(level.at_risk_at) == "at-risk"
    assert level.state(level.due_at) == "overdue"
    assert level.stop(MONDAY_9 + timedelta(hours=1)).state(level.due_at) == "stopped"


def test_each_point_is_announced_exactly_once_and_never_after_the_clock_stops() -> None:
    level = ServiceLevelPolicy().start("urgent", MONDAY_9)
    assert level.changes_due(MONDAY_9) == []
    assert level.changes_due(level.at_risk_at) == ["service-level-at-risk"]
    risky = level.announced(["service-level-at-risk"])
    assert risky.changes_due(level.at_risk_at + timedelta(hours=1)) == []
    assert risky.changes_due(level.due_at) == ["service-level-overdue"]
    done = risky.announced(["service-level-overdue"])
    assert done.changes_due(level.due_at + timedelta(days=30)) == []
    # A scan that only ran after the due date announces both, in order.
    assert level.changes_due(level.due_at) == ["service-level-at-risk", "service-level-overdue"]
    assert level.stop(MONDAY_9).changes_due(level.due_at) == []


def test_a_calendar_without_business_days_is_refused() -> None:
    every_day = frozenset(date(2026, 1, 1) + timedelta(days=n) for n in range(4000))
    with pytest.raises(ValueError, match="no business days"):
        BusinessCalendar(holidays=every_day).add(MONDAY_9, timedelta(days=1))
