"""The store contract against the real MongoDB-compatible server, and what only it does: events
stay pending in the case's outbox across later changes until the relay takes them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.intake import domain
from services.intake.domain import CaseRecord
from services.intake.store import IntakeStore
from shared.envelope import CloudEvent, make_event
from shared.mongo import connect
from shared.outbox import OUTBOX_FIELD
from shared.settings import StackSettings
from tests.unit.intake.store_contract import STAFF, T0, CaseStoreContract, new_case

pytestmark = pytest.mark.real


@pytest.fixture
async def store(stack: StackSettings) -> AsyncIterator[IntakeStore]:
    mongo = connect(stack, app_name="intake-store-tests")
    db = mongo[stack.database("intake")]
    real = IntakeStore(db)
    await real.ensure_indexes()
    try:
        yield real
    finally:
        await mongo.drop_database(db.name)
        await mongo.close()


class TestIntakeStore(CaseStoreContract):
    pass


async def test_pending_events_stay_until_the_relay_takes_them(store: IntakeStore) -> None:
    case = new_case("c-1")
    submitted = make_event(case.submission, source="/t", subject="c-1")
    await store.change_case("c-1", lambda _: (case, [submitted]))

    def hold(known: CaseRecord | None) -> tuple[CaseRecord, list[CloudEvent]]:
        assert known is not None
        change = domain.put_on_hold(known, actor=STAFF, reason="wait", at=T0)
        return change.record, [make_event(change.event, source="/t", subject="c-1")]

    held = await store.change_case("c-1", hold)
    doc = await store.cases.find_one({"_id": "c-1"})
    assert doc is not None and doc["version"] == 2 and doc["status"] == "on-hold"
    assert sorted(doc[OUTBOX_FIELD]) == sorted([submitted.id, held.events[0].id])
    assert await store.cases.count_documents({}) == 1
