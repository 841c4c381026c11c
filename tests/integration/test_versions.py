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
    assert sorted(d["version"] for d in kept) == [4, 5]  # the newest two


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
