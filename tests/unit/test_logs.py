import io
import logging

import orjson

from shared.logs import JsonFormatter


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
