"""The notify service's own Prometheus metrics (served by the shared `/metrics`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

DELIVERY_ATTEMPTS = Counter(
    "sop_notify_delivery_attempts_total",
    "Email and webhook tries, by channel and what became of the delivery.",
    ["channel", "status"],
)
BOARD_SUBSCRIBERS = Gauge("sop_notify_board_subscribers", "Open staff-board event streams.")
BOARD_DROPPED = Counter(
    "sop_notify_board_dropped_total", "Board streams dropped because they fell behind."
)
