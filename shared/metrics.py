"""Prometheus metrics shared by every service; labels carry event types and reasons, never PHI."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_CONSUMED = Counter(
    "sop_events_consumed_total", "Events taken from a topic, by outcome.", ["event_type", "outcome"]
)
EVENTS_PUBLISHED = Counter(
    "sop_events_published_total", "Events published through an outbox.", ["event_type"]
)
DEAD_LETTERS = Counter("sop_dead_letters_total", "Messages sent to a .dlq topic.", ["reason"])
HANDLER_SECONDS = Histogram(
    "sop_handler_seconds", "Time a handler took for one event.", ["event_type"]
)
OUTBOX_PENDING = Gauge("sop_outbox_pending", "Events waiting in an outbox at the last relay pass.")
AUDIT_RECORDS = Counter(
    "sop_audit_records_total", "Requests recorded on the audit trail, by outcome.", ["outcome"]
)
STORE_COMMANDS = Counter(
    "sop_store_commands_total",
    "Commands this process sent to its database, by command and collection.",
    ["command", "collection"],
)
