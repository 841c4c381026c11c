"""The refusal every intake rule raises (domain.py, consults.py, access.py)."""

from __future__ import annotations


class DomainError(Exception):
    """A request the rules refuse; `code` is machine-readable, `message` never quotes a value."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
