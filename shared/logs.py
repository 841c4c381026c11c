"""Structured JSON logs that carry case and event ids, never patient details."""

from __future__ import annotations

import logging
import sys
import time
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
        "suppressed",
        "tasks",
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


class RepeatedLibraryMessages(logging.Filter):
    """Lets a library's message through once per `window_s` (with how many were held back).

    While the broker is down, aiokafka's clients retry every 100 ms and log each failure:
    about 2,700 lines in 20 s from one service, which drowns everything else. The first line
    of each kind still says at once that the broker is away. The services' own lines pass."""

    OWN_LOGGERS = ("services.", "shared.", "bench.", "tests.")

    def __init__(self, window_s: float = 10.0, clock: Any = time.monotonic) -> None:
        super().__init__()
        self.window_s = window_s
        self._clock = clock
        self._held: dict[tuple[str, str], tuple[float, int]] = {}  # kind -> (shown at, held)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(self.OWN_LOGGERS):
            return True
        kind = (record.name, str(record.msg))
        now = self._clock()
        shown_at, held = self._held.get(kind, (None, 0))
        if shown_at is not None and now - shown_at < self.window_s:
            self._held[kind] = (shown_at, held + 1)
            return False
        if len(self._held) >= 1_000:  # kinds are format strings, but keep it bounded anyway
            self._held.clear()
        self._held[kind] = (now, 0)
        if held:
            record.suppressed = held
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    handler.addFilter(RepeatedLibraryMessages())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Library loggers are chatty at INFO and can print connection strings.
    for noisy in ("aiokafka", "pymongo", "uvicorn.access", "kafka", "pydicom"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
