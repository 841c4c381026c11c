"""Notify: emails, the live staff board and partner webhooks."""
