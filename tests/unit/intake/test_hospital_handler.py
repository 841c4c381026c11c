"""The hospital topic's handler with an in-memory store: repeats by event id or by hospital
request make no second case; what can never be valid is a PermanentError naming the field."""

from __future__ import annotations

from datetime import UTC, date, datetime

import orjson
import pytest
from aiokafka import ConsumerRecord

from services.intake.config import IntakeSettings
from services.intake.handlers import (
    IntakeContext,
    _request_key,
    on_hospital_case,
    on_platform_case,
    on_progress,
    on_unreadable_hospital_case,
)
from services.intake.memory_store import InMemoryCaseStore
from shared.auth import TokenIssuer
from shared.consumer import Delivery, PermanentError
from shared.contracts import CaseSubmitted, HospitalCaseOutcome, RecordsUpdated, decode_payload
from shared.envelope import CloudEvent, InvalidEvent, encode, make_event
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
    key, published = store_of(ctx).outbox  # the case's data key first
    assert key.type == "case.keys"
    assert published.id != event.id and published.source == "/services/intake"
    data = CaseSubmitted.model_validate(published.data)
    assert data.submitted_via == "hospital-system" and data.organization_id == "org-n"


async def test_repeats_make_no_second_case(ctx: IntakeContext) -> None:
    event = hospital("n-1")
    await on_hospital_case(delivery(event), ctx=ctx)
    await on_hospital_case(delivery(event), ctx=ctx)  # redelivered
    await on_hospital_case(delivery(hospital("n-2")), ctx=ctx)  # same request, new case id
    await on_hospital_case(delivery(hospital("n-1", request_id=None)), ctx=ctx)  # resent
    assert list(store_of(ctx).cases) == ["n-1"] and len(store_of(ctx).outbox) == 2
    # The same request id from another organization is another request.
    await on_hospital_case(delivery(hospital("w-1", org="org-w")), ctx=ctx)
    assert sorted(store_of(ctx).cases) == ["n-1", "w-1"]


async def test_a_retry_after_a_crash_finishes_the_case(ctx: IntakeContext) -> None:
    event = hospital("n-1")
    await on_hospital_case(delivery(event), ctx=ctx)
    store_of(ctx).cases.clear()  # as if the process died after its claims
    store_of(ctx).outbox.clear()
    await on_hospital_case(delivery(event), ctx=ctx)
    assert list(store_of(ctx).cases) == ["n-1"] and len(store_of(ctx).outbox) == 2


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


def answers(ctx: IntakeContext) -> list[HospitalCaseOutcome]:
    return [HospitalCaseOutcome.model_validate(e.data) for e in store_of(ctx).answers.values()]


async def test_every_submission_is_answered_once_on_the_outcome_topic(
    ctx: IntakeContext,
) -> None:
    first = hospital("n-1", request_id="REQ-1")
    await on_hospital_case(delivery(first), ctx=ctx)
    await on_hospital_case(delivery(first), ctx=ctx)  # redelivered: no second answer
    (accepted,) = answers(ctx)
    assert (accepted.outcome, accepted.accepted_case_id) == ("accepted", "n-1")
    assert (accepted.organization_id, accepted.submission_id) == ("org-n", first.id)
    (answer_event,) = store_of(ctx).answers.values()
    assert answer_event.type == "hospital.case.outcome" and answer_event.subject == "org-n"

    reused = hospital("n-2", request_id="REQ-1")  # a new case id for the same request
    await on_hospital_case(delivery(reused), ctx=ctx)
    rejected = answers(ctx)[-1]
    assert (rejected.outcome, rejected.code, rejected.field) == (
        "rejected",
        "duplicate_request_id",
        "hospital_request_id",
    )
    assert rejected.earlier_case_id == "n-1" and rejected.submitted_case_id == "n-2"
    assert list(store_of(ctx).cases) == ["n-1"]

    other_text = sample_case().consent.model_copy(update={"text_version": "valley-v3"})
    refused = make_event(
        sample_case("n-3", consent=other_text, organization_id="org-n"),
        source="/hospitals/n",
        subject="n-3",
    )
    with pytest.raises(PermanentError):
        await on_hospital_case(delivery(refused), ctx=ctx)
    with pytest.raises(PermanentError):  # redelivered after a failed dead-letter send
        await on_hospital_case(delivery(refused), ctx=ctx)
    consent = answers(ctx)[-1]
    assert (consent.code, consent.field) == ("unknown_consent_version", "consent.text_version")
    assert consent.message and len(answers(ctx)) == 3
    for event in store_of(ctx).answers.values():
        text = orjson.dumps(event.model_dump(mode="json")).decode()
        patient = sample_case().patient
        assert patient.given_name not in text and patient.family_name not in text
        assert str(patient.date_of_birth) not in text
        assert sample_case().guardian.email not in text and "@" not in text


async def test_a_reused_request_id_names_the_earlier_case_only_to_its_own_organization(
    ctx: IntakeContext,
) -> None:
    # The request key is per organization; a sender naming no organization is keyed by source,
    # and a case opened under that key by another sender must not be named.
    await ctx.store.claim(_request_key("org-n", "REQ-1"), case_id="other-1")
    await on_hospital_case(delivery(hospital("n-1", request_id="REQ-1")), ctx=ctx)
    (rejected,) = answers(ctx)
    assert rejected.code == "duplicate_request_id" and rejected.earlier_case_id is None


async def test_a_case_id_of_another_sender_is_answered_as_taken(ctx: IntakeContext) -> None:
    await on_hospital_case(delivery(hospital("taken")), ctx=ctx)
    with pytest.raises(PermanentError):
        await on_hospital_case(delivery(hospital("taken", "REQ-9", org="org-other")), ctx=ctx)
    taken = answers(ctx)[-1]
    assert (taken.organization_id, taken.code, taken.field) == (
        "org-other",
        "case_id_taken",
        "case_id",
    )
    assert taken.accepted_case_id is None and taken.earlier_case_id is None


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


async def test_a_message_that_is_no_valid_submission_is_answered_too(ctx: IntakeContext) -> None:
    """What the consumer dead-letters before any handler sees it gets an answer naming the
    reason and the field, keyed by the organization it names; never a value."""
    body = orjson.loads(encode(hospital("n-9", request_id="REQ-9")))
    del body["data"]["consent"]
    body["data"]["guardian"]["email"] = "not an address"
    message = record(orjson.dumps(body), offset=7)
    invalid = InvalidEvent("invalid_payload", "consent: missing; guardian.email: value_error")
    for _ in range(2):  # redelivered after a failed dead-letter send: one answer
        await on_unreadable_hospital_case(message, invalid, ctx=ctx)
    (answer,) = answers(ctx)
    assert (answer.outcome, answer.code, answer.field) == ("rejected", "invalid_payload", "consent")
    assert (answer.organization_id, answer.submission_id) == ("org-n", body["id"])
    assert (answer.submitted_case_id, answer.hospital_request_id) == ("n-9", "REQ-9")
    assert answer.message == invalid.detail and "not an address" not in str(answer)

    # Not even JSON: answered only if it names whom to answer, which it cannot.
    await on_unreadable_hospital_case(
        record(b"{broken", offset=8), InvalidEvent("invalid_json", "not JSON"), ctx=ctx
    )
    # JSON without an id: answered under its place on the topic.
    no_id = orjson.dumps({"source": "/hospitals/n", "type": "case.submitted"})
    await on_unreadable_hospital_case(
        record(no_id, offset=9), InvalidEvent("not_a_cloudevent", "id: missing"), ctx=ctx
    )
    last = answers(ctx)[-1]
    assert len(answers(ctx)) == 2
    assert (last.organization_id, last.submission_id) == ("/hospitals/n", "offset/0/9")
    assert (last.code, last.field, last.submitted_case_id) == ("not_a_cloudevent", None, None)


def record(value: bytes, offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic="hospital.case.submitted",
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=b"n-9",
        value=value,
        checksum=None,
        serialized_key_size=3,
        serialized_value_size=len(value),
        headers=[],
    )


async def test_the_clearance_requirement_is_the_programs_never_the_senders(
    ctx: IntakeContext,
) -> None:
    case = sample_case("n-9", organization_id="org-n", hospital_request_id="REQ-9")
    claimed = case.model_copy(update={"financial_clearance_required": True})
    await on_hospital_case(delivery(make_event(claimed, source="/h", subject="n-9")), ctx=ctx)
    _key, published = store_of(ctx).outbox
    assert CaseSubmitted.model_validate(published.data).financial_clearance_required is None

    ctx.settings = ctx.settings.model_copy(update={"financial_clearance_required": True})
    other = sample_case("n-10", organization_id="org-n", hospital_request_id="REQ-10")
    await on_hospital_case(delivery(make_event(other, source="/h", subject="n-10")), ctx=ctx)
    types = [e.type for e in store_of(ctx).outbox[2:]]
    assert types == ["case.keys", "case.submitted", "financial_clearance.updated"]
    record = await ctx.store.get_case("n-10")
    assert record is not None and record.clearance is not None
    assert record.clearance.estimate is not None and record.clearance.estimate.total_minor == 80000
