"""The unit of work (shared/unit_of_work.py) on the real store: one conditional write per
change, so concurrent writers from two processes lose nothing, a consumed event applies once,
and a change's events stay queued until the relay takes them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from shared.mongo import Document, connect
from shared.settings import StackSettings
from shared.unit_of_work import APPLIED_KEPT, CaseDocuments, Change, Loaded, Tracking
from tests.support import sample_event, store_commands_sent

pytestmark = pytest.mark.real


@pytest.fixture
async def cases(topics: StackSettings) -> AsyncIterator[AsyncCollection[Document]]:
    client: AsyncMongoClient[Document] = connect(topics, app_name="tests")
    yield client[topics.database("uow")]["cases"]
    await client.drop_database(topics.database("uow"))
    await client.close()


def count_up(loaded: Loaded) -> Change:
    return Change({"count": (loaded.state or {}).get("count", 0) + 1})


async def test_concurrent_changes_from_two_processes_are_all_kept(
    cases: AsyncCollection[Document], topics: StackSettings
) -> None:
    code = textwrap.dedent(
        """
        import asyncio, sys
        from shared.mongo import connect
        from shared.settings import StackSettings
        from shared.unit_of_work import CaseDocuments, Change

        async def main():
            stack = StackSettings(sop_namespace=sys.argv[1])
            client = connect(stack, app_name="tests-other")
            documents = CaseDocuments(client[stack.database("uow")]["cases"])
            up = lambda l: Change({"count": (l.state or {}).get("count", 0) + 1})
            await asyncio.gather(*(documents.change("c1", up, attempts=200) for _ in range(60)))
            await client.close()

        asyncio.run(main())
        """
    )
    other = subprocess.Popen([sys.executable, "-c", code, topics.sop_namespace])  # noqa: ASYNC220
    documents = CaseDocuments(cases)
    await asyncio.gather(*(documents.change("c1", count_up, attempts=200) for _ in range(60)))
    assert await asyncio.to_thread(other.wait, 120) == 0
    stored = await cases.find_one({"_id": "c1"})
    assert stored is not None
    assert stored["count"] == 120
    assert stored["version"] == 120


async def test_a_consumed_event_is_applied_once(cases: AsyncCollection[Document]) -> None:
    documents = CaseDocuments(cases)
    seen = Tracking("reports", "event-1")
    outcomes = await asyncio.gather(
        *(documents.change("c1", count_up, tracking=seen, attempts=50) for _ in range(10))
    )
    assert sum(o.written for o in outcomes) == 1
    assert (await documents.load("c1")).state == {"count": 1}
    again = await documents.change("c1", count_up, tracking=seen)
    assert not again.written
    other_group = await documents.change("c1", count_up, tracking=Tracking("notify", "event-1"))
    assert other_group.written


async def test_applied_ids_are_bounded(cases: AsyncCollection[Document]) -> None:
    documents = CaseDocuments(cases)
    for n in range(APPLIED_KEPT + 5):
        await documents.change("c1", count_up, tracking=Tracking("g.1", f"e{n}"))
    loaded = await documents.load("c1")
    assert loaded.applied["g_1"] == [f"e{n}" for n in range(5, APPLIED_KEPT + 5)]


async def test_events_stay_queued_across_later_changes(cases: AsyncCollection[Document]) -> None:
    nudged: list[tuple[str, list[str]]] = []
    documents = CaseDocuments(
        cases, events_queued=lambda c, es: nudged.append((c, [e.id for e in es]))
    )
    first, second = sample_event("c1"), sample_event("c1")
    await documents.change("c1", lambda _: Change({"step": 1}, [first]))
    await documents.change("c1", lambda _: Change({"step": 2}, [second]))
    await documents.change("c1", lambda _: Change({"step": 3}))
    stored = await cases.find_one({"_id": "c1"})
    assert stored is not None
    assert set(stored["outbox"]) == {first.id, second.id}
    assert nudged == [("c1", [first.id]), ("c1", [second.id])]  # handed to the relay


async def test_a_field_the_new_state_drops_is_removed(cases: AsyncCollection[Document]) -> None:
    documents = CaseDocuments(cases)
    await documents.change("c1", lambda _: Change({"a": 1, "b": 2}))
    await documents.change("c1", lambda _: Change({"a": 3}))
    assert (await documents.load("c1")).state == {"a": 3}


async def test_a_decision_of_nothing_writes_nothing(cases: AsyncCollection[Document]) -> None:
    documents = CaseDocuments(cases)
    outcome = await documents.change("c1", lambda _: None)
    assert not outcome.written
    assert await cases.find_one({"_id": "c1"}) is None


async def test_load_many_reads_several_cases_in_one_query(
    cases: AsyncCollection[Document],
) -> None:
    documents = CaseDocuments(cases)
    for case_id in ("c1", "c2"):
        await documents.change(case_id, lambda _: Change({"here": True}))
    loaded = await documents.load_many(["c1", "c2", "c3"])
    assert {c: case.version for c, case in loaded.items()} == {"c1": 1, "c2": 1, "c3": 0}


async def test_a_preloaded_case_is_not_read_again_and_a_stale_one_costs_a_retry(
    cases: AsyncCollection[Document],
) -> None:
    documents = CaseDocuments(cases)
    await documents.change("c1", count_up)
    await documents.preload(["c1", "c2"])
    await CaseDocuments(cases).change("c1", count_up)  # another instance, after the preload
    outcome = await documents.change("c1", count_up)
    assert outcome.written
    assert outcome.state == {"count": 3}
    assert (await documents.change("c2", count_up)).version == 1


async def test_a_change_starts_from_what_this_process_wrote_without_reading_it(
    cases: AsyncCollection[Document],
) -> None:
    documents = CaseDocuments(cases)
    await documents.change("c1", count_up, tracking=Tracking("g", "e1"))
    before = store_commands_sent("find", cases.name)
    await documents.change("c1", count_up, tracking=Tracking("g", "e2"))
    again = await documents.change("c1", count_up, tracking=Tracking("g", "e1"))
    # Both decided on the remembered version.
    assert store_commands_sent("find", cases.name) == before
    assert not again.written  # and it remembered e1 was applied
    assert (await documents.load("c1")).state == {"count": 2}


async def test_a_version_another_process_replaced_costs_a_read_not_an_update(
    cases: AsyncCollection[Document],
) -> None:
    mine, theirs = CaseDocuments(cases), CaseDocuments(cases)
    await mine.change("c1", count_up)  # mine remembers version 1
    await theirs.change("c1", count_up)  # version 2, unknown to mine
    await theirs.change("c1", count_up, tracking=Tracking("g", "e1"))
    outcome = await mine.change("c1", count_up, tracking=Tracking("g", "e1"))
    assert not outcome.written  # the stale write missed; the fresh read knew e1
    await mine.change("c1", count_up)
    loaded = await mine.load("c1")
    assert (loaded.version, loaded.state) == (4, {"count": 4})


async def test_a_write_on_a_callers_version_keeps_the_applied_event_ids(
    cases: AsyncCollection[Document],
) -> None:
    documents = CaseDocuments(cases)
    await documents.change("c1", count_up, tracking=Tracking("g", "e1"))
    state = (await documents.load("c1")).state
    # A request handler read the case and passes it on, without the applied ids.
    await documents.change("c1", count_up, loaded=Loaded("c1", 1, state))
    again = await documents.change("c1", count_up, tracking=Tracking("g", "e1"))
    assert not again.written
    assert (await documents.load("c1")).applied == {"g": ["e1"]}
