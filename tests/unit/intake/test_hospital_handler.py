"""The hospital topic's handler with an in-memory store: repeats by event id or by hospital
request make no second case; what can never be valid is a PermanentError naming the field."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.intake.config import IntakeSettings
from services.intake.handlers import (
    IntakeContext,
    on_hospital_case,
    on_platform_case,
    on_progress,
)
from services.intake.memory_store import InMemoryCaseStore
from shared.auth import TokenIssuer
from shared.consumer import Delivery, PermanentError
from shared.contracts import CaseSubmitted, RecordsUpdated, decode_payload
from shared.envelope import CloudEvent, make_event
from tests.support import sample_case


@pytest.fixture
def ctx(issuer: TokenIssuer) -> IntakeContext:
    return IntakeContext(store=InMemoryCaseStore(), settings=IntakeSettings(), links=issuer)


def delivery(event: CloudEvent, topic: str = "hospital.case.submitted") -> Delivery:
    return Delivery(event, decode_payload(event), topic, 0, 0)


def hospital(
    case_id: str, request_id: str | None = "REQ-1", org: str | None = "org-n"
) -> CloudEvent:
    case = sample_case(case_id, organization_id=org, hospital_request_id=request_id)
    return make_event(case, source="/hospitals/n", subject=case_id)


def store_of(ctx: IntakeContext) -> InMemoryCaseStore:
    assert isinstance(ctx.store, InMemoryCaseStore)
    return ctx.store


async def test_a_new_case_is_republished_as_intakes_own(ctx: IntakeContext) -> None:
    event = hospital("n-1")
    await on_hospital_case(delivery(event), ctx=ctx)
    (published,) = store_of(ctx).outbox
    assert published.id != event.id and published.source == "/services/intake"
    data = CaseSubmitted.model_validate(published.data)
    assert data.submitted_via == "hospital-system" and data.organization_id == "org-n"


async def test_repeats_make_no_second_case(ctx: IntakeContext) -> None:
    event = hospital("n-1")
    await on_hospital_case(delivery(event), ctx=ctx)
    await on_hospital_case(delivery(event), ctx=ctx)  # redelivered
    await on_hospital_case(delivery(hospital("n-2")), ctx=ctx)  # same request, new case id
    await on_hospital_case(delivery(hospital("n-1", request_id=None)), ctx=ctx)  # resent
    assert list(store_of(ctx).cases) == ["n-1"] and len(store_of(ctx).outbox) == 1
    # The same request id from another organization is another request.
    await on_hospital_case(delivery(hospital("w-1", org="org-w")), ctx=ctx)
    assert sorted(store_of(ctx).cases) == ["n-1", "w-1"]


async def test_a_retry_after_a_crash_finishes_the_case(ctx: IntakeContext) -> None:
    event = hospital("n-1")
    await on_hospital_case(delivery(event), ctx=ctx)
    store_of(ctx).cases.clear()  # as if the process died after its claims
    store_of(ctx).outbox.clear()
    await on_hospital_case(delivery(event), ctx=ctx)
    assert list(store_of(ctx).cases) == ["n-1"] and len(store_of(ctx).outbox) == 1


async def test_invalid_or_conflicting_submissions_are_permanent_errors(
    ctx: IntakeContext,
) -> None:
    future = sample_case().patient.model_copy(update={"date_of_birth": date(2999, 1, 1)})
    bad = make_event(sample_case("b-1", patient=future), source="/h", subject="b-1")
    with pytest.raises(PermanentError, match=r"^patient.date_of_birth: date_in_future$"):
        await on_hospital_case(delivery(bad), ctx=ctx)
    await on_hospital_case(delivery(hospital("taken")), ctx=ctx)
    other = hospital("taken", request_id="REQ-9", org="org-other")
    with pytest.raises(PermanentError, match="case_id"):
        await on_hospital_case(delivery(other), ctx=ctx)


async def test_an_unknown_consent_version_is_refused_as_on_the_form(ctx: IntakeContext) -> None:
    other_text = sample_case().consent.model_copy(update={"text_version": "valley-v3"})
    case = sample_case("c-1", consent=other_text, organization_id="org-n")
    event = make_event(case, source="/hospitals/n", subject="c-1")
    with pytest.raises(PermanentError, match=r"^consent.text_version: unknown_consent_version$"):
        await on_hospital_case(delivery(event), ctx=ctx)
    assert store_of(ctx).cases == {}


async def test_a_case_that_bypassed_intake_is_recorded_and_not_republished(
    ctx: IntakeContext,
) -> None:
    event = make_event(sample_case("direct-1"), source="/legacy", subject="direct-1")
    await on_platform_case(delivery(event, "case.submitted"), ctx=ctx)
    await on_platform_case(delivery(event, "case.submitted"), ctx=ctx)
    assert list(store_of(ctx).cases) == ["direct-1"] and store_of(ctx).outbox == []
    assert store_of(ctx).cases["direct-1"].version == 1


async def test_progress_events_are_kept_once(ctx: IntakeContext) -> None:
    payload = RecordsUpdated(
        case_id="c-1",
        required=["a"],
        present=[],
        missing=["a"],
        document_count=0,
        study_count=0,
        identity_check="not-checked",
    )
    event = make_event(payload, source="/records", subject="c-1", time=datetime.now(UTC))
    await on_progress(delivery(event, "records.updated"), ctx=ctx)
    await on_progress(delivery(event, "records.updated"), ctx=ctx)
    (milestone,) = await ctx.store.milestones_of("c-1")
    assert milestone.facts == {"required": ["a"], "present": [], "missing": ["a"]}
