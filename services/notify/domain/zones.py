"""Dates in a message, in the recipient's time zone when they gave one. No I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def local_time(moment: datetime, zone_name: str | None) -> str:
    """`2026-12-11 18:05 (Europe/Paris)` in the person's zone; the UTC day alone (as before
    zones were known) when they gave none or one this machine's tz database lacks."""
    if zone_name:
        try:
            local = moment.astimezone(ZoneInfo(zone_name))
        except (ZoneInfoNotFoundError, ValueError):
            pass
        else:
            return f"{local:%Y-%m-%d %H:%M} ({zone_name})"
    return moment.astimezone(UTC).strftime("%Y-%m-%d")
