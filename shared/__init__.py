"""Cross-service contracts and plumbing: events, bus, consumer runner, outbox, settings."""
