"""Handlers of the intake service: one function per command and per consumed event.

Every change of a case is one unit of work (store.py): the new record and its event
(`case.submitted` for a new case, `case.updated` for a staff change) in one conditional write.
Duplicates are found by claims inserted first under unique ids: the Idempotency-Key of a form,
the hospital's request id, the id of an inbound event. A claim names its case, so a repeat
after a crash finishes the same case instead of starting a second one.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property, partial

from aiokafka import ConsumerRecord
from pydantic import ValidationError

from services.intake import access, answers, consent_document, domain, fees, fhir
from services.intake.billing import FakeBilling, PaymentProvider
from services.intake.config import IntakeSettings
from services.intake.consent_document import ConsentLibrary, ConsentSignature, SignedThrough
from services.intake.domain import CaseRecord, DomainError, Transition
from services.intake.fhir_outcome import FhirError, fhir_path, invalid_case
from services.intake.progress import PROGRESS_TYPES, Milestone, facts_of
from services.intake.store import CaseStore
from services.intake.views import CaseCreate, CaseLink, LinkRole, LinksRevoked, RecordsLinks
from shared.auth import Principal, TokenIssuer
from shared.case_keys import KeyEncryptionKeys
from shared.consumer import Delivery, Handler, InvalidHandler, PermanentError
from shared.contracts import CaseSubmitted, FinancialClearanceUpdated, payload_as
from shared.contracts.access_revoked import RevocationReason
from shared.contracts.case_submitted import Consent
from shared.contracts.common import Actor
from shared.envelope import CloudEvent, InvalidEvent, make_event, new_event_id
from shared.outbox import EventsQueued, no_events_queued
from shared.topics import HOSPITAL_TOPIC
from shared.tracing import case_span

SOURCE = answers.SOURCE
log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class IntakeContext:
    """What every handler needs: the store, settings, the link signer, a clock, the nudge."""

    store: CaseStore
    settings: IntakeSettings
    links: TokenIssuer
    clock: Callable[[], datetime] = _utc_now
    new_id: Callable[[], str] = new_event_id
    # Wakes the outbox relay for the document that holds new events.
    events_queued: EventsQueued = field(default=no_events_queued)
    # Wakes the relay of the answers to hospitals (`hospital.case.outcome`).
    answers_queued: EventsQueued = field(default=no_events_queued)
    # The hospital's billing system (billing.py), asked about clearance references.
    billing: PaymentProvider = field(default_factory=FakeBilling)

    @property
    def consent_versions(self) -> frozenset[str]:
        """The consent text versions every submission must cite, whichever way it comes."""
        return frozenset(self.settings.consent_versions)

    @property
    def fee_schedule(self) -> tuple[fees.FeeItem, ...]:
        return tuple(self.settings.fee_schedule)

    @cached_property
    def consents(self) -> ConsentLibrary:
        return ConsentLibrary.load(self.settings.consent_versions)

    @cached_property
    def case_keys(self) -> KeyEncryptionKeys:
        """Wraps the data key each new case gets (shared/case_keys.py)."""
        return KeyEncryptionKeys.of(self.settings.stack)


@dataclass(frozen=True)
class Client:
    """Where a signature came from (the signature record keeps it; nothing else does)."""

    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class Accepted:
    record: CaseRecord
    replayed: bool


# Submissions.


async def submit_form(
    *,
    ctx: IntakeContext,
    form: CaseCreate,
    principal: Principal | None,
    idempotency_key: str | None,
    client: Client | None = None,
) -> Accepted:
    """A family's or physician's request form; the same Idempotency-Key gives the same case."""
    access.check_submitter(principal)
    if not form.consent.agreed:
        raise DomainError("consent_required", "consent must be given to submit", "consent.agreed")
    now = ctx.clock()
    submission = CaseSubmitted(
        case_id=ctx.new_id(),
        patient=form.patient,
        guardian=form.guardian,
        referring_physician=form.referring_physician,
        specialty=form.specialty,
        working_diagnosis=form.working_diagnosis,
        diagnosis_stage=form.diagnosis_stage,
        urgency=form.urgency,
        questions=form.questions,
        consent=Consent(
            given_by=form.consent.given_by,
            given_at=form.consent.given_at or now,
            text_version=form.consent.text_version,
            language=form.consent.language,
            text_sha256=form.consent.text_sha256,
        ),
        country=form.country,
        submitted_via="family" if form.submitted_by == "guardian" else "physician",
        service_type=form.service_type,
    )
    domain.check_submission(submission, now=now, consent_versions=ctx.consent_versions)
    client = client or Client()
    signed = _signature(ctx, submission, "form", ip=client.ip, user_agent=client.user_agent)
    if idempotency_key is not None:
        scope = principal.subject if principal else "anonymous"
        digest = hashlib.sha256(form.model_dump_json().encode()).hexdigest()
        claim = await ctx.store.claim(
            f"idempotency/{scope}/{idempotency_key}",
            case_id=submission.case_id,
            digest=digest,
            at=now,
        )
        if claim["digest"] != digest:
            raise DomainError(
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different request",
                "Idempotency-Key",
            )
        submission = submission.model_copy(update={"case_id": claim["case_id"]})
    return await _open_case(ctx, submission, consent_signature=signed)


def _signature(
    ctx: IntakeContext,
    submission: CaseSubmitted,
    through: SignedThrough,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
) -> ConsentSignature:
    """The signature record of a submission; the event says which text (version, language,
    hash), never from where."""
    consent = submission.consent
    language = consent.language or submission.guardian.preferred_language
    document = ctx.consents.signed(consent.text_version, language, consent.text_sha256)
    return consent_document.signature(
        document,
        signed_by=consent.given_by,
        signed_at=consent.given_at,
        through=through,
        ip=ip,
        user_agent=user_agent,
    )


def _with_consent_text(submission: CaseSubmitted, signed: ConsentSignature) -> CaseSubmitted:
    consent = submission.consent.model_copy(
        update={"language": signed.language, "text_sha256": signed.text_sha256}
    )
    return submission.model_copy(update={"consent": consent})


async def submit_fhir(*, ctx: IntakeContext, principal: Principal, bundle: object) -> Accepted:
    """A hospital's FHIR transaction Bundle; the same request identifier gives the same case."""
    try:
        organization = access.check_hospital(principal)
    except DomainError as refused:
        raise FhirError(403, "forbidden", refused.message) from None
    fields = fhir.case_fields(bundle)
    try:
        submission = CaseSubmitted.model_validate(
            {
                **fields,
                "case_id": ctx.new_id(),
                "submitted_via": "fhir",
                "organization_id": organization,
            }
        )
        domain.check_submission(submission, now=ctx.clock(), consent_versions=ctx.consent_versions)
    except ValidationError as exc:
        raise invalid_case(exc) from None
    except DomainError as refused:
        where = fhir_path(refused.field or "")
        raise FhirError(422, "business-rule", f"{where}: {refused.message}", where) from None
    assert submission.hospital_request_id is not None  # case_fields requires it
    claim = await ctx.store.claim(
        _request_key(organization, submission.hospital_request_id),
        case_id=submission.case_id,
    )
    submission = submission.model_copy(update={"case_id": claim["case_id"]})
    signed = _signature(ctx, submission, "fhir")
    return await _open_case(ctx, submission, sender=organization, consent_signature=signed)


async def _open_case(
    ctx: IntakeContext,
    submission: CaseSubmitted,
    *,
    source_event_id: str | None = None,
    sender: str | None = None,
    consent_signature: ConsentSignature | None = None,
) -> Accepted:
    """Write the case with its `case.submitted`, or find the one a repeat already opened."""
    now = ctx.clock()
    if consent_signature is not None:
        submission = _with_consent_text(submission, consent_signature)
    clearance = None
    requires_clearance = ctx.settings.financial_clearance_required
    # Said on the case itself, so assignment knows to wait before it sees anything else; the
    # program's setting, never a sender's (a hospital's own value would hold its case forever).
    submission = submission.model_copy(
        update={"financial_clearance_required": requires_clearance or None}
    )
    if requires_clearance:
        service = submission.service_type or fees.DEFAULT_SERVICE
        clearance = fees.required_clearance(ctx.fee_schedule, service, ctx.settings.currency)
    record = CaseRecord.new(
        submission,
        at=now,
        source_event_id=source_event_id,
        sender=sender,
        consent_signature=consent_signature,
        clearance=clearance,
    )
    # The case's trace begins here, whichever way it came in (shared/tracing.py).
    with case_span(submission.case_id, "open case", from_events=True):
        # The case's data key goes out first: every event of the case after it is sealed with
        # it on Kafka, and erasure destroys it (shared/case_keys.py).
        # (The relay publishes in event id order, and ids grow with time: the key is made first.)
        key = ctx.case_keys.new_case_key(submission.case_id)
        events = [make_event(key, source=SOURCE, subject=submission.case_id, time=now)]
        event = make_event(submission, source=SOURCE, subject=submission.case_id, time=now)
        events.append(event)
        if clearance is not None:
            required = FinancialClearanceUpdated(
                case_id=submission.case_id,
                state="required",
                estimate=clearance.estimate,
                actor=Actor(subject="intake", role="service"),
            )
            events.append(make_event(required, source=SOURCE, subject=submission.case_id, time=now))
    change = await ctx.store.change_case(
        submission.case_id, lambda existing: None if existing else (record, events), expect_new=True
    )
    assert change.record is not None  # written now, or there before
    if change.written:
        ctx.events_queued(submission.case_id, change.events)
        log.info("case opened", extra={"case_id": submission.case_id, "event_id": event.id})
    return Accepted(change.record, replayed=not change.written)


# Consumed events.


async def on_hospital_case(delivery: Delivery, *, ctx: IntakeContext) -> None:
    """A hospital system's `case.submitted`: check it, drop repeats, republish it as ours, and
    answer the submission on `hospital.case.outcome` (once, through the answers' outbox)."""
    payload = payload_as(delivery.payload, CaseSubmitted)
    event = delivery.event
    organization = payload.organization_id or event.source
    try:
        domain.check_submission(payload, now=ctx.clock(), consent_versions=ctx.consent_versions)
        signed = _signature(ctx, payload, "hospital-system")
    except DomainError as refused:
        await _reject(ctx, delivery, organization, refused.code, refused.message, refused.field)
        raise PermanentError(f"{refused.field}: {refused.code}") from None
    # Same event id: a redelivery or a resend, answered the first time.
    claim = await ctx.store.claim(f"event/{event.id}", case_id=payload.case_id)
    if claim["case_id"] != payload.case_id:
        log.info("duplicate hospital event", extra=_ids(delivery))
        return
    if payload.hospital_request_id is not None:
        key = _request_key(organization, payload.hospital_request_id)
        claim = await ctx.store.claim(key, case_id=payload.case_id)
        if claim["case_id"] != payload.case_id:
            # The same request under a new case id: answered, and the earlier case named only
            # to the organization it belongs to.
            earlier = await ctx.store.get_case(claim["case_id"])
            own = earlier is not None and earlier.sender == organization
            await _reject(
                ctx,
                delivery,
                organization,
                "duplicate_request_id",
                answers.DUPLICATE_REQUEST,
                "hospital_request_id",
                earlier_case_id=claim["case_id"] if own else None,
            )
            log.info("duplicate hospital request", extra=_ids(delivery))
            return
    submission = payload.model_copy(update={"submitted_via": "hospital-system"})
    accepted = await _open_case(
        ctx, submission, source_event_id=event.id, sender=organization, consent_signature=signed
    )
    if accepted.replayed and accepted.record.sender != organization:
        await _reject(
            ctx, delivery, organization, "case_id_taken", answers.CASE_ID_TAKEN, "case_id"
        )
        raise PermanentError("case_id: another sender's case already has this id")
    if accepted.replayed:
        log.info("duplicate hospital submission", extra=_ids(delivery))
    answer = answers.accepted(event, payload, organization, at=ctx.clock())
    await _answer(ctx, delivery, answer)


async def on_unreadable_hospital_case(
    message: ConsumerRecord[bytes, bytes], invalid: InvalidEvent, *, ctx: IntakeContext
) -> None:
    """A hospital's message that is no valid case.submitted (it goes to the DLQ): answered
    too, so the hospital learns why without reading a DLQ that carries patient data."""
    found = answers.unreadable(
        message.value, invalid, partition=message.partition, offset=message.offset, at=ctx.clock()
    )
    if found is None:
        return
    submission_id, answer = found
    if await ctx.store.answer_submission(submission_id, answer):
        ctx.answers_queued(submission_id, [answer])


async def _reject(
    ctx: IntakeContext,
    delivery: Delivery,
    organization: str,
    code: str,
    message: str,
    field: str | None,
    *,
    earlier_case_id: str | None = None,
) -> None:
    payload = payload_as(delivery.payload, CaseSubmitted)
    answer = answers.rejected(
        delivery.event,
        payload,
        organization,
        code=code,
        message=message,
        field=field,
        at=ctx.clock(),
        earlier_case_id=earlier_case_id,
    )
    await _answer(ctx, delivery, answer)


async def _answer(ctx: IntakeContext, delivery: Delivery, answer: CloudEvent) -> None:
    """Queue the answer unless this submission (event id) was answered before."""
    if await ctx.store.answer_submission(delivery.event.id, answer):
        ctx.answers_queued(delivery.event.id, [answer])


async def on_platform_case(delivery: Delivery, *, ctx: IntakeContext) -> None:
    """A `case.submitted` on the platform topic: ours (nothing to do), or one that bypassed
    intake, which the intake team should see too. It is never published again."""
    payload = payload_as(delivery.payload, CaseSubmitted)
    record = CaseRecord.new(payload, at=delivery.event.time, source_event_id=delivery.event.id)
    await ctx.store.change_case(payload.case_id, lambda known: None if known else (record, []))


async def on_progress(delivery: Delivery, *, ctx: IntakeContext) -> None:
    """Note how far another service has taken the case, for the status page."""
    event = delivery.event
    data = delivery.payload.model_dump(mode="json")
    milestone = Milestone(event.id, event.type, event.time, facts_of(event.type, data))
    await ctx.store.add_milestone(event.subject, milestone)


def consumer_handlers(ctx: IntakeContext) -> dict[str, Handler]:
    handlers: dict[str, Handler] = {
        HOSPITAL_TOPIC: partial(on_hospital_case, ctx=ctx),
        "case.submitted": partial(on_platform_case, ctx=ctx),
    }
    for event_type in PROGRESS_TYPES:
        handlers[event_type] = partial(on_progress, ctx=ctx)
    return handlers


def invalid_handlers(ctx: IntakeContext) -> dict[str, InvalidHandler]:
    return {HOSPITAL_TOPIC: partial(on_unreadable_hospital_case, ctx=ctx)}


# Commands on a case (staff, and the family's link).

Decide = Callable[[CaseRecord, Actor, datetime], Transition]


async def change_case(
    *,
    ctx: IntakeContext,
    principal: Principal,
    case_id: str,
    decide: Decide,
    action: access.Action = "manage-cases",
) -> CaseRecord:
    """Read the case, let the rules decide, write the new record with its event."""
    access.check_case_scope(principal, action, case_id)
    actor = Actor(subject=principal.subject, role=principal.role)

    def decide_change(current: CaseRecord | None) -> tuple[CaseRecord, list[CloudEvent]]:
        record = access.check_case(principal, action, current, case_id)
        now = ctx.clock()
        transition = decide(record, actor, now)
        if transition.event is None:
            return transition.record, []
        return transition.record, [
            make_event(transition.event, source=SOURCE, subject=case_id, time=now)
        ]

    change = await ctx.store.change_case(case_id, decide_change)
    assert change.record is not None  # decide_change always writes
    if change.events:
        ctx.events_queued(case_id, change.events)
        log.info("case changed", extra={"case_id": case_id, "event_id": change.events[0].id})
    return change.record


async def revoke_links(
    *,
    ctx: IntakeContext,
    principal: Principal,
    case_id: str,
    reason: RevocationReason,
    reissue: LinkRole | None,
) -> LinksRevoked:
    """End every link to the case (published as `access.revoked`); staff may get a fresh one."""
    if reissue is not None:
        # A leaked link must not buy its holder a fresh one that locks the family out.
        access.check_role(principal, "manage-cases")

    def decide(record: CaseRecord, actor: Actor, at: datetime) -> Transition:
        return domain.revoke_links(record, actor=actor, reason=reason, at=at)

    record = await change_case(
        ctx=ctx, principal=principal, case_id=case_id, decide=decide, action="revoke-links"
    )
    assert record.links_not_before is not None  # revoke_links sets it
    link = None
    if reissue is not None:
        link = issue_link(ctx, case_id, reissue, not_before=record.links_not_before)
    return LinksRevoked(case_id=case_id, not_before=record.links_not_before, link=link)


async def withdraw_case(
    *, ctx: IntakeContext, principal: Principal, case_id: str, reason: str | None
) -> CaseRecord:
    """The family or the referring physician withdraws their request (a `case.updated`
    cancel with them as actor), through their link to this case."""

    def decide(record: CaseRecord, actor: Actor, at: datetime) -> Transition:
        return domain.withdraw(record, actor=actor, reason=reason, at=at)

    return await change_case(
        ctx=ctx, principal=principal, case_id=case_id, decide=decide, action="withdraw"
    )


async def withdraw_consent(
    *,
    ctx: IntakeContext,
    principal: Principal,
    case_id: str,
    reason: str | None,
    client: Client,
) -> CaseRecord:
    """The guardian withdraws consent with their link: the case stops like a withdrawal."""

    def decide(record: CaseRecord, actor: Actor, at: datetime) -> Transition:
        return domain.withdraw_consent(record, actor=actor, reason=reason, at=at, ip=client.ip)

    return await change_case(
        ctx=ctx, principal=principal, case_id=case_id, decide=decide, action="withdraw"
    )


async def clear_finances(
    *, ctx: IntakeContext, principal: Principal, case_id: str, mark: fees.ClearanceMark
) -> CaseRecord:
    """Mark the case financially cleared; a reference must be one the billing system approved
    (asked before the write: the unit of work does no I/O)."""
    # Another hospital's billing system learns nothing, not even what billing says.
    access.check_case(principal, "clear-finances", await ctx.store.get_case(case_id), case_id)
    for value, name in ((mark.reference, "reference"), (mark.payer, "payer"), (mark.note, "note")):
        fees.check_free_text(value, name)
    if mark.method != "waived" and mark.reference:
        status = await ctx.billing.status(mark.reference)
        if status != "approved":
            raise DomainError(
                "not_authorized",
                f"the billing system answers {status} for this reference",
                "reference",
            )

    def decide(record: CaseRecord, actor: Actor, at: datetime) -> Transition:
        cleared = fees.mark_cleared(record, mark, actor=actor, at=at)
        return Transition(cleared.record, cleared.event)

    return await change_case(
        ctx=ctx, principal=principal, case_id=case_id, decide=decide, action="clear-finances"
    )


def issue_link(
    ctx: IntakeContext, case_id: str, role: LinkRole, *, not_before: datetime | None = None
) -> CaseLink:
    """A link for one case: the status page here and uploads at records. `not_before` is the
    case's revocation cut-off: a link issued in that very second is dated from it."""
    ttl = ctx.settings.link_ttl_s
    token = ctx.links.issue(
        subject=f"{role}-link:{case_id}",
        role=role,
        case_ids=[case_id],
        ttl_s=ttl,
        issued_at=int(not_before.timestamp()) if not_before else None,
    )
    return CaseLink(token=token, role=role, expires_at=ctx.clock() + timedelta(seconds=ttl))


def records_links(ctx: IntakeContext, case_id: str) -> RecordsLinks:
    base = ctx.settings.records_public_url.rstrip("/")
    return RecordsLinks(
        upload_url=f"{base}/cases/{case_id}/documents",
        checklist_url=f"{base}/cases/{case_id}/checklist",
    )


def _ids(delivery: Delivery) -> dict[str, str]:
    return {"case_id": delivery.event.subject, "event_id": delivery.event.id}


def _request_key(organization: str, request_id: str) -> str:
    # The length keeps "a/b" + "c" apart from "a" + "b/c".
    return f"request/{len(organization)}:{organization}/{request_id}"
