import io
import logging

import orjson

from shared.logs import JsonFormatter, RepeatedLibraryMessages


def test_only_allowed_fields_reach_a_log_line_and_exceptions_log_their_type_only() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("test"))
    logger = logging.getLogger("test.phi")
    logger.handlers[:] = [handler]
    logger.propagate = False
    try:
        raise ValueError("patient Amelia Quinterofake born 2016-04-09")
    except ValueError:
        logger.error(
            "handler failed",
            extra={"case_id": "case-9", "patient_name": "Amelia Quinterofake"},
            exc_info=True,
        )
    line = orjson.loads(stream.getvalue())
    assert line["case_id"] == "case-9"
    assert line["error_type"] == "ValueError"
    assert "Amelia" not in stream.getvalue()
    assert "2016-04-09" not in stream.getvalue()


def test_a_library_repeating_itself_is_shown_once_per_window_with_the_count_held_back() -> None:
    now = [0.0]
    repeats = RepeatedLibraryMessages(window_s=10, clock=lambda: now[0])

    def shown(name: str, msg: str, *args: object) -> logging.LogRecord | None:
        record = logging.LogRecord(name, logging.ERROR, "f.py", 1, msg, args, None)
        return record if repeats.filter(record) else None

    template = "Unable connect to node with id %s: %s"
    assert shown("aiokafka", template, 1, "refused") is not None
    for step in range(99):  # a retry every 100 ms
        now[0] = (step + 1) * 0.1
        assert shown("aiokafka", template, 1, "refused") is None
    assert shown("aiokafka", "Unable to update metadata from %s", [1]) is not None  # other kind
    assert shown("services.records.handlers", "dicom instances stored") is not None
    assert shown("services.records.handlers", "dicom instances stored") is not None  # ours pass
    now[0] = 10.0
    again = shown("aiokafka", template, 1, "refused")
    assert again is not None and again.suppressed == 99  # type: ignore[attr-defined]
