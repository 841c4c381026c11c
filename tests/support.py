"""Test support: polling with a deadline (never fixed sleeps) and sample events."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import TypeVar

from shared.contracts import CaseSubmitted
from shared.contracts.case_submitted import Consent, Guardian, Patient, ReferringPhysician
from shared.envelope import CloudEvent, make_event

T = TypeVar("T")


async def eventually(
    probe: Callable[[], T | Awaitable[T]], *, within: float = 20.0, interval: float = 0.05
) -> T:
    """Poll `probe` (sync or async) until it returns something truthy; fail at the deadline."""
    deadline = time.monotonic() + within
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s; last value: {value!r}")
        await asyncio.sleep(interval)


def sample_case(case_id: str = "case-0001", **changes: object) -> CaseSubmitted:
    fields: dict[str, object] = {
        "case_id": case_id,
        "patient": Patient(
            given_name="Amelia",
            family_name="Quinterofake",
            date_of_birth=date(2016, 4, 9),
            sex="female",
            mrn="MRN-77-1234",
        ),
        "guardian": Guardian(
            name="Rosa Quinterofake",
            relationship="mother",
            email="rosa.parent@example.org",
            phone="+1 614 555 0100",
            preferred_language="es",
        ),
        "referring_physician": ReferringPhysician(
            name="Dr. Lee Example",
            organization="Valley Pediatrics",
            email="lee@valley.example.org",
            phone="+1 614 555 0199",
        ),
        "specialty": "neuro-oncology",
        "working_diagnosis": "Medulloblastoma, WNT-activated",
        "diagnosis_stage": "M0",
        "urgency": "routine",
        "questions": ["Is proton therapy an option?", "Are there clinical trials?"],
        "consent": Consent(
            given_by="Rosa Quinterofake",
            given_at=datetime(2026, 11, 1, 10, 0, tzinfo=UTC),
            text_version="2026-01",
        ),
        "country": "US",
    }
    fields.update(changes)
    return CaseSubmitted.model_validate(fields)


def sample_event(case_id: str = "case-0001", **changes: object) -> CloudEvent:
    return make_event(sample_case(case_id, **changes), source="/tests", subject=case_id)


def sample_pdf(text: str = "pathology") -> bytes:
    """A small well-formed one-page PDF (cross-reference table with true offsets), whose
    content stream holds `text`, so two calls with other text give other bytes."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<</Type/Catalog/Pages 2 0 R>>",
        b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Contents 4 0 R>>",
        b"<</Length %d>>stream\n%s\nendstream" % (len(stream), stream),
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def store_commands_sent(command: str, collection: str) -> float:
    """How many `command`s this test process has sent to `collection` so far (the clients of
    `shared.mongo.connect` count them in `sop_store_commands_total`)."""
    from prometheus_client import REGISTRY

    sample = REGISTRY.get_sample_value(
        "sop_store_commands_total", {"command": command, "collection": collection}
    )
    return sample or 0
