"""Handlers of the records service: one function per event and per command.

Every change goes through `change_case`, the unit of work (shared/unit_of_work.py): load the
case, let the domain decide, write the case, its events and the consumed event's id in one
conditional write (decided again if someone else wrote in between).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from services.records import access, rules
from services.records.case_documents import case_to_document
from services.records.config import RecordsSettings
from services.records.domain import (
    CaseRecord,
    DocumentEntry,
    DomainError,
    RecordsRequestEntry,
)
from services.records.store import RecordsStore, case_of
from shared.auth import Principal
from shared.consumer import Delivery
from shared.contracts import CaseSubmitted, CaseUpdated, RecordsRequested, payload_as
from shared.contracts.common import Actor
from shared.envelope import Payload, make_event
from shared.expert_access import experts_after
from shared.objectstore import ObjectStore
from shared.outbox import EventsQueued, no_events_queued
from shared.unit_of_work import Change, Loaded, Tracking

SOURCE = "/services/records"
CONSUMED_TYPES = (
    "case.submitted",
    "case.updated",
    "expert.assigned",
    "assignment.updated",
    "case.erased",
)
SERVICE = "records"

# None: nothing changed, so nothing is saved.
Mutation = Callable[[CaseRecord], list[Payload] | None]


@dataclass(frozen=True)
class Ports:
    """What the handlers work with: the service's collections, its bucket, its settings."""

    store: RecordsStore
    objects: ObjectStore
    settings: RecordsSettings
    # Wakes the outbox relay after a write that queued events.
    nudge: EventsQueued = no_events_queued


def now() -> datetime:
    return datetime.now(UTC)


async def change_case(
    ports: Ports,
    case_id: str,
    mutate: Mutation,
    *,
    delivery: Delivery | None = None,
    create: bool = False,
    just_read: CaseRecord | None = None,
) -> CaseRecord | None:
    """Apply `mutate` and write the case with its events; None when `delivery`'s event was
    already applied.

    `just_read`: the case as the caller has just read it (to check access), tried first
    instead of reading it again; if another writer changed it since, the write misses and the
    next attempt reads afresh."""
    decided: list[CaseRecord] = []

    def decide(loaded: Loaded) -> Change | None:
        case = case_of(loaded)
        if case is None and not create:
            raise access.not_found(case_id)
        case = case or CaseRecord(case_id, uid_salt=secrets.token_hex(16))
        decided[:] = [case]
        payloads = mutate(case)
        if payloads is None:
            return None
        events = [make_event(p, source=SOURCE, subject=case_id) for p in payloads]
        return Change(case_to_document(case), events)

    first = None
    if just_read is not None:
        first = Loaded(case_id, just_read.revision, case_to_document(just_read))
    tracking = Tracking(SERVICE, delivery.event.id) if delivery else None
    outcome = await ports.store.documents.change(case_id, decide, tracking=tracking, loaded=first)
    if not decided:
        return None  # the event was applied before
    if outcome.written:
        decided[0].revision = outcome.version
        if outcome.events:
            ports.nudge(case_id, outcome.events)
    return decided[0]


async def on_case_submitted(delivery: Delivery, *, ports: Ports) -> None:
    """Open the checklist (or refresh it, if intake sent the case again)."""
    payload = payload_as(delivery.payload, CaseSubmitted)

    def mutate(case: CaseRecord) -> list[Payload]:
        case.submit(payload)
        return case.events_after_change(now())

    await change_case(ports, payload.case_id, mutate, delivery=delivery, create=True)


async def on_case_updated(delivery: Delivery, *, ports: Ports) -> None:
    """Follow intake: a cancelled case takes no more uploads; a new specialty, new rules."""
    payload = payload_as(delivery.payload, CaseUpdated)

    def mutate(case: CaseRecord) -> list[Payload]:
        rules_changed = case.update_status(payload.status, payload.specialty)
        return case.events_after_change(now()) if rules_changed and case.submitted else []

    await change_case(ports, payload.case_id, mutate, delivery=delivery, create=True)


async def on_assignment_event(delivery: Delivery, *, ports: Ports) -> None:
    """Follow which experts may see the case's records (offered or assigned to them)."""

    def mutate(case: CaseRecord) -> list[Payload] | None:
        experts = experts_after(case.experts, delivery.payload)
        if experts == case.experts:
            return None
        case.experts = experts
        return []

    case_id = delivery.event.subject
    await change_case(ports, case_id, mutate, delivery=delivery, create=True)


async def load_case(
    ports: Ports,
    principal: Principal,
    action: access.Action,
    case_id: str,
    *,
    recent: bool = False,
) -> CaseRecord:
    """The case, if it exists and this caller may do `action` on it. `recent`: from what this
    process last read or wrote of it, when a change follows that checks again on the version
    it writes (an upload's early refusal, before its body is read)."""
    access.check_case_scope(principal, action, case_id)
    found = await ports.store.load(case_id, recent=recent)
    return access.check_case(principal, action, found, case_id)


async def waive_item(
    ports: Ports, *, principal: Principal, case_id: str, item: str, reason: str
) -> CaseRecord:
    """Staff accept that a required item will not come, and say why."""
    access.check_case_scope(principal, "manage-records", case_id)

    def mutate(case: CaseRecord) -> list[Payload] | None:
        access.check_case(principal, "manage-records", case, case_id)
        if not case.waive(item, reason, principal.subject, now()):
            return None
        return case.events_after_change(now())

    return await _changed(ports, case_id, mutate)


async def request_records(
    ports: Ports, *, principal: Principal, case_id: str, items: list[str], message: str | None
) -> RecordsRequested:
    """Ask the family or the physician for specific items (notify sends the message); the
    request is also kept on the case, in the same write as the event, for the case page."""
    access.check_case_scope(principal, "manage-records", case_id)
    unknown = [item for item in items if item not in rules.ITEMS]
    if unknown:
        raise DomainError("unknown_item", "items: one of them is not a checklist item", "items")
    request = RecordsRequested(
        case_id=case_id,
        items=items,
        message=message,
        requested_by=Actor(subject=principal.subject, role=principal.role),
    )
    entry = RecordsRequestEntry(
        items=list(items), message=message, requested_at=now(), requested_by_role=principal.role
    )

    def mutate(case: CaseRecord) -> list[Payload]:
        access.check_case(principal, "manage-records", case, case_id)
        case.add_request(entry)
        return [request]

    await _changed(ports, case_id, mutate)
    return request


async def add_document(
    ports: Ports,
    *,
    principal: Principal,
    case_id: str,
    entry: DocumentEntry,
    just_read: CaseRecord | None = None,
) -> CaseRecord:
    """Record a document whose object is already stored; the caller deletes it on failure."""

    def mutate(case: CaseRecord) -> list[Payload]:
        access.check_case(principal, "upload", case, case_id)
        case.add_document(entry)
        return case.events_after_change(now())

    return await _changed(ports, case_id, mutate, just_read)


async def _changed(
    ports: Ports, case_id: str, mutate: Mutation, just_read: CaseRecord | None = None
) -> CaseRecord:
    case = await change_case(ports, case_id, mutate, just_read=just_read)
    assert case is not None  # only event handlers pass an event id
    return case
