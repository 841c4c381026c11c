"""Group commit of inserts (shared/batched_inserts.py) on the real store: concurrent callers
share one write, and each learns only about its own document."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from shared.batched_inserts import BatchedInserts
from shared.mongo import Document, connect
from shared.settings import StackSettings
from tests.support import store_commands_sent

pytestmark = pytest.mark.real


@pytest.fixture
async def records(topics: StackSettings) -> AsyncIterator[AsyncCollection[Document]]:
    client: AsyncMongoClient[Document] = connect(topics, app_name="tests")
    yield client[topics.database("batched")]["records"]
    await client.drop_database(topics.database("batched"))
    await client.close()


async def test_concurrent_inserts_share_writes_and_a_duplicate_is_told_only_to_its_caller(
    records: AsyncCollection[Document],
) -> None:
    await records.insert_one({"_id": "seen-before"})
    inserts = BatchedInserts(records)
    before = store_commands_sent("insert", records.name)
    ids = [f"r{n}" for n in range(40)] + ["seen-before", "r7"]
    stored = await asyncio.gather(*(inserts.insert({"_id": i, "n": 1}) for i in ids))
    assert stored == [True] * 40 + [False, False]
    # The first alone, then all that waited for it.
    assert store_commands_sent("insert", records.name) - before <= 2
    assert await records.count_documents({}) == 41


async def test_a_failed_write_raises_to_every_caller_of_it(
    records: AsyncCollection[Document],
) -> None:
    inserts = BatchedInserts(records)
    results = await asyncio.gather(
        inserts.insert({"_id": "fine"}),
        inserts.insert({"_id": "bad", "$not-a-field": 1}),
        return_exceptions=True,
    )
    # Both went in the same write, which refused the bad document.
    assert [type(r).__name__ for r in results] == [type(results[1]).__name__] * 2
    assert isinstance(results[1], Exception)
