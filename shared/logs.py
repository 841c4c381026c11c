"""Structured JSON logs that carry case and event ids, never patient details."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

# Only these `extra=` keys reach the log line. Anything else (a payload, a name, an email)
# is dropped, so a careless call site cannot leak a child's details.
ALLOWED_FIELDS = frozenset(
    {
        "case_id",
        "event_id",
        "event_type",
        "topic",
        "partition",
        "offset",
        "group",
        "reason",
        "error_type",
        "attempt",
        "count",
        "duration_ms",
        "route",
        "status",
        "service",
        "url",
    }
)
_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key in ALLOWED_FIELDS and key not in _RESERVED:
                line[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            # The type only: exception messages can quote input values.
            line["error_type"] = record.exc_info[0].__name__
        return orjson.dumps(line, default=str).decode()


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Library loggers are chatty at INFO and can print connection strings.
    for noisy in ("aiokafka", "pymongo", "uvicorn.access", "kafka", "pydicom"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
