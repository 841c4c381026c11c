"""Crypto-shredding on a real broker (issue 14): the `case.submitted` intake publishes holds the
child's personal data only sealed with the case's key, and the key is on `case.keys` first."""

from __future__ import annotations

import orjson
import pytest

from shared.envelope import decode, make_event
from tests.integration.intake.conftest import IntakeHarness, read_topic_with_keys
from tests.support import eventually, sample_case
from tests.topic_reading import keyring_from_topic

pytestmark = pytest.mark.real

# What the sample case says about the child, the guardian and the physician.
PERSONAL = (
    b"Amelia",
    b"Quinterofake",
    b"2016-04-09",
    b"rosa.parent@example.org",
    b"+1 614 555 0100",
    b"Dr. Lee Example",
    b"lee@valley.example.org",
)


async def test_a_published_case_holds_no_personal_data_in_clear_on_kafka(
    intake: IntakeHarness,
) -> None:
    case = sample_case("sealed-1", organization_id="org-north", hospital_request_id="REQ-S1")
    await intake.send_hospital(make_event(case, source="/hospitals/north", subject="sealed-1"))
    (published,) = await eventually(lambda: intake.published("case.submitted", "sealed-1"))
    # Opened with the key from `case.keys`, the event is the whole case.
    assert published.data["patient"]["family_name"] == "Quinterofake"

    stack = intake.stack
    raw = [v for k, v in await read_topic_with_keys(stack, stack.topic("case.submitted"))]
    mine = [v for v in raw if decode(v).subject == "sealed-1"]
    assert mine
    for value in mine:
        for text in PERSONAL:
            assert text not in value, text
        body = orjson.loads(value)
        assert "data" not in body and body["sopencryption"] == "case-key-v1"
        assert body["subject"] == "sealed-1" and body["type"] == "case.submitted"

    keys = await read_topic_with_keys(stack, stack.topic("case.keys"))
    (key,) = [orjson.loads(v) for k, v in keys if k == b"sealed-1"]
    assert key["data"]["wrapped_key"] and key["data"]["kek_id"]
    assert not [text for text in PERSONAL for _, v in keys if text in v]
    # A process that starts now learns the key from the topic.
    assert (await keyring_from_topic(stack)).lookup("sealed-1") is not None
