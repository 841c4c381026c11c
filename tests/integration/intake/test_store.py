"""The store contract against the real MongoDB-compatible server, and what only it does: events
still pending in a superseded version move on to the next one."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.intake import domain
from services.intake.store import IntakeStore
from shared.envelope import make_event
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


async def test_pending_events_move_to_the_next_version(store: IntakeStore) -> None:
    case = new_case("c-1")
    submitted = make_event(case.submission, source="/t", subject="c-1")
    assert await store.save_case(case, [submitted])
    loaded = await store.get_case("c-1")
    assert loaded is not None
    change = domain.put_on_hold(loaded, actor=STAFF, reason="wait", at=T0)
    updated = make_event(change.event, source="/t", subject="c-1")
    assert await store.save_case(change.record, [updated])
    docs = await store.cases.find({"case_id": "c-1"}, sort=[("version", 1)]).to_list()
    # The previous version stays as a landing place until the next write prunes it.
    assert [d["version"] for d in docs] == [1, 2]
    assert sorted(docs[1][OUTBOX_FIELD]) == sorted([submitted.id, updated.id])
    resumed = domain.resume(
        change.record.model_copy(update={"version": 2}), actor=STAFF, reason=None, at=T0
    )
    assert await store.save_case(resumed.record, [])
    docs = await store.cases.find({"case_id": "c-1"}, sort=[("version", 1)]).to_list()
    assert [d["version"] for d in docs] == [2, 3]
