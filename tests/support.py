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
