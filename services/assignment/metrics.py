"""The assignment service's own Prometheus metrics (served by the shared `/metrics`).

Assignment owns the service-level clock, so it reports how many open cases are past their
at-risk point or their due time; the background scan refreshes both on each pass."""

from __future__ import annotations

from prometheus_client import Gauge

SERVICE_LEVEL_CASES = Gauge(
    "sop_service_level_cases",
    "Open cases whose service-level clock is at risk or overdue, at the last scan.",
    ["state"],
)
