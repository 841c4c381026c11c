"""Concurrent updates of one document through `shared.mongo.connect` all take effect.

FerretDB 1.x does an update as a read and a write; on separate connections two updates of one
document can interleave and one is lost. The local stack's MONGO_URL keeps one connection per
client so that a process's updates are sequential (see deploy/local/stack.py).
"""

from __future__ import annotations

import asyncio

import pytest

from shared.mongo import connect
from shared.settings import StackSettings

pytestmark = pytest.mark.real


async def test_fifty_concurrent_increments_of_one_document_are_all_kept(
    topics: StackSettings,
) -> None:
    mongo = connect(topics, app_name="tests")
    collection = mongo[topics.database("atomicity")]["counters"]
    try:
        await collection.insert_one({"_id": "one", "count": 0})
        await asyncio.gather(
            *(collection.update_one({"_id": "one"}, {"$inc": {"count": 1}}) for _ in range(50))
        )
        assert (await collection.find_one({"_id": "one"}) or {})["count"] == 50
    finally:
        await mongo.drop_database(topics.database("atomicity"))
        await mongo.close()
