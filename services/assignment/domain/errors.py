"""Why a command cannot be done; the API turns these into 4xx answers with the same code."""

from __future__ import annotations


class AssignmentError(Exception):
    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class NotFound(AssignmentError):
    """The thing does not exist, or the caller may not know that it does."""


class Conflict(AssignmentError):
    """The thing exists but its state does not allow the command now."""


class Invalid(AssignmentError):
    """The request names something that cannot be used (an unknown expert, say)."""
