"""Version chains against the real MongoDB-compatible server: two processes writing one case
(each with its own remembered versions) always find the newest, and exactly one of two writers
of the same version wins."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from shared.metrics import STORE_COMMANDS
from shared.mongo import Document, connect
from shared.outbox import save_next_version
from shared.settings import StackSettings
from shared.versions import VersionChain

pytestmark = pytest.mark.real


@pytest.fixture
async def db(stack: StackSettings) -> AsyncIterator[AsyncDatabase[Document]]:
    client: AsyncMongoClient[Document] = connect(stack, app_name="tests")
    database = client[stack.database(f"versions-{id(client)}")]
    yield database
    await client.drop_database(database.name)
    await client.close()


def chain(db: AsyncDatabase[Document]) -> VersionChain:
    return VersionChain(db["cases"], db["case_heads"])


async def test_a_case_nobody_wrote_is_absent(db: AsyncDatabase[Document]) -> None:
    assert await chain(db).latest("nobody") is None


async def test_two_processes_see_each_others_versions(db: AsyncDatabase[Document]) -> None:
    first, second = chain(db), chain(db)
    assert await first.insert("c-1", 1, {"n": 1})
    assert (await second.latest("c-1") or {})["n"] == 1  # unknown here: asks once
    for n in range(2, 6):  # `second` stays behind while `first` writes and prunes
        assert await first.insert("c-1", n, {"n": n})
    latest = await second.latest("c-1")
    assert latest is not None and (latest["version"], latest["n"]) == (5, 5)
    kept = await db["cases"].find({}, projection={"version": 1}).to_list()
    # The newest two, and version 1's tombstone.
    assert sorted(d.get("version", 0) for d in kept) == [0, 4, 5]


async def test_of_two_writers_of_one_version_exactly_one_wins(
    db: AsyncDatabase[Document],
) -> None:
    writers = [chain(db) for _ in range(4)]
    assert await writers[0].insert("c-2", 1, {"by": 0})
    results = await asyncio.gather(*(w.insert("c-2", 2, {"by": i}) for i, w in enumerate(writers)))
    assert sum(1 for r in results if r) == 1
    winner = next(i for i, r in enumerate(results) if r)
    for writer in writers:
        latest = await writer.latest("c-2")
        assert latest is not None and latest["by"] == winner


async def test_every_store_command_is_counted_by_command_and_collection(
    db: AsyncDatabase[Document],
) -> None:
    """`sop_store_commands_total`: how many round trips a case costs, per collection."""

    def count(command: str) -> float:
        sample = STORE_COMMANDS.labels(command=command, collection="cases")
        return float(sample._value.get())

    finds, inserts = count("find"), count("insert")
    versions = chain(db)
    await versions.insert("c-count", 1, {"n": 1})
    await versions.latest("c-count")  # remembered: the version, then a probe for the next
    assert (count("find") - finds, count("insert") - inserts) == (2, 1)


async def test_a_writer_that_read_a_pruned_version_cannot_write_after_it(
    db: AsyncDatabase[Document],
) -> None:
    """A writer read v1 and is slow (a large upload); others write v2..v5, pruning as they
    go, so v2's id is free again. Its save must fail, not bring back a v2 beside v5."""
    slow, others = chain(db), chain(db)
    assert await save_next_version(slow, "c-stale", 0, {"n": 1}, [])
    for version in range(2, 6):
        assert await save_next_version(others, "c-stale", version - 1, {"n": version}, [])
    assert await save_next_version(slow, "c-stale", 1, {"n": "stale"}, []) is None
    assert (await chain(db).latest("c-stale") or {})["n"] == 5
    assert await db["cases"].count_documents({"case_id": "c-stale"}) == 2  # v4 and v5


async def test_a_writer_that_found_no_case_long_ago_cannot_start_a_second_chain(
    db: AsyncDatabase[Document],
) -> None:
    """Version 1 is pruned to a tombstone: its id stays taken."""
    others = chain(db)
    for version in range(1, 5):
        assert await save_next_version(others, "c-new", version - 1, {"n": version}, [])
    assert await save_next_version(chain(db), "c-new", 0, {"n": "second chain"}, []) is None
    assert (await chain(db).latest("c-new") or {})["n"] == 4
    assert await chain(db).get("c-new", 1) is None  # a tombstone reads as no version
