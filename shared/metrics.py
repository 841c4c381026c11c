"""Prometheus metrics shared by every service; labels carry event types, topics, consumer groups
and reasons (bounded sets), never case ids or PHI. deploy/monitoring's alert rules and
dashboard read these names: tests/unit/test_monitoring.py checks each one they use exists."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_CONSUMED = Counter(
    "sop_events_consumed_total", "Events taken from a topic, by outcome.", ["event_type", "outcome"]
)
EVENTS_PUBLISHED = Counter(
    "sop_events_published_total", "Events published through an outbox.", ["event_type"]
)
DEAD_LETTERS = Counter(
    "sop_dead_letters_total",
    "Messages sent to a .dlq topic, by the topic they came from and why.",
    ["topic", "reason"],
)
HANDLER_SECONDS = Histogram(
    "sop_handler_seconds", "Time a handler took for one event.", ["event_type"]
)
# Consumer lag as the group's own runner sees it after each fetch: the partition's high-water
# mark minus the group's position. Only the partitions this process is assigned are reported
# (a rebalance removes the others), so sum by (group, topic) across pods is the group's lag.
CONSUMER_LAG = Gauge(
    "sop_consumer_lag_messages",
    "Messages on a partition the consumer group has not processed yet.",
    ["group", "topic", "partition"],
)
CONSUMER_LAST_PROCESSED = Gauge(
    "sop_consumer_last_processed_timestamp_seconds",
    "Unix time at which the group last finished a batch from the topic.",
    ["group", "topic"],
)
OUTBOX_PENDING = Gauge("sop_outbox_pending", "Events waiting in an outbox at the last relay pass.")
# Refreshed by each relay's sweep (every sweep interval, and every pass while publishing
# fails), from the documents the sweep reads anyway: a scrape never touches the store.
OUTBOX_BACKLOG = Gauge(
    "sop_outbox_backlog_events",
    "Events waiting in the outboxes of a collection at the relay's last sweep.",
    ["collection"],
)
OUTBOX_OLDEST_AGE = Gauge(
    "sop_outbox_oldest_event_age_seconds",
    "Age of the oldest event still waiting in a collection's outboxes at the last sweep.",
    ["collection"],
)
OUTBOX_RELAY_FAILURES = Counter(
    "sop_outbox_relay_failures_total",
    "Relay passes that failed (the broker or the store did not answer); they are retried.",
    ["collection"],
)
AUDIT_RECORDS = Counter(
    "sop_audit_records_total", "Requests recorded on the audit trail, by outcome.", ["outcome"]
)
STORE_COMMANDS = Counter(
    "sop_store_commands_total",
    "Commands this process sent to its database, by command and collection.",
    ["command", "collection"],
)
# HTTP: `route` is the matched route's template (`/cases/{case_id}`), never the path itself.
HTTP_REQUESTS = Counter(
    "sop_http_requests_total",
    "HTTP requests answered, by route and status code.",
    ["method", "route", "code"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "sop_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by route.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
