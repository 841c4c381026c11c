"""The MongoDB semantics the services rely on hold on the local store (FerretDB on PostgreSQL
with deploy/local/ferretdb-postgresql.patch), at pool sizes above one and from two processes.

Each test names one rule the code depends on; on MongoDB every one of them holds by design.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import ASCENDING, AsyncMongoClient, ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.mongo import Document, connect
from shared.settings import StackSettings

pytestmark = pytest.mark.real


@pytest.fixture
async def mongo(topics: StackSettings) -> AsyncIterator[AsyncMongoClient[Document]]:
    client = connect(topics, app_name="tests")
    yield client
    await client.drop_database(topics.database("store"))
    await client.close()


@pytest.fixture
def db(mongo: AsyncMongoClient[Document], topics: StackSettings) -> AsyncDatabase[Document]:
    return mongo[topics.database("store")]


def other_process(topics: StackSettings, body: str) -> subprocess.Popen[str]:
    """A second Python process with its own client (pool of 10) on the same database; `body`
    is the inside of `async def work(db)` and its result is printed as JSON."""
    code = textwrap.dedent(
        """
        import asyncio, json, sys
        from pymongo import ReturnDocument
        from shared.mongo import connect
        from shared.settings import StackSettings

        async def work(db):
        {body}

        async def main():
            stack = StackSettings(sop_namespace=sys.argv[1])
            client = connect(stack, app_name="tests-other")
            try:
                print(json.dumps(await work(client[stack.database("store")])))
            finally:
                await client.close()

        asyncio.run(main())
        """
    ).format(body=textwrap.indent(textwrap.dedent(body), "    "))
    return subprocess.Popen(
        [sys.executable, "-c", code, topics.sop_namespace], stdout=subprocess.PIPE, text=True
    )


def result_of(process: subprocess.Popen[str]) -> Any:
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0
    return json.loads(out)


async def test_concurrent_increments_from_two_processes_are_all_kept(
    db: AsyncDatabase[Document], topics: StackSettings
) -> None:
    """Single-document updates are atomic: no update is lost to another one."""
    await db.counters.insert_one({"_id": "one", "count": 0})
    other = other_process(
        topics,
        """
        await asyncio.gather(
            *(db.counters.update_one({"_id": "one"}, {"$inc": {"count": 1}}) for _ in range(250))
        )
        return 250
        """,
    )
    await asyncio.gather(
        *(db.counters.update_one({"_id": "one"}, {"$inc": {"count": 1}}) for _ in range(250))
    )
    assert result_of(other) == 250
    assert (await db.counters.find_one({"_id": "one"}) or {})["count"] == 500


async def test_a_work_queue_never_hands_one_job_to_two_claimers(
    db: AsyncDatabase[Document], topics: StackSettings
) -> None:
    """find_one_and_update matches and changes one document atomically."""
    await db.jobs.insert_many([{"_id": i, "state": "open"} for i in range(100)])
    claim = """
        async def claimer():
            got = []
            while (job := await db.jobs.find_one_and_update(
                {"state": "open"}, {"$set": {"state": "taken"}},
                return_document=ReturnDocument.AFTER,
            )) is not None:
                got.append(job["_id"])
            return got
        return [j for got in await asyncio.gather(*(claimer() for _ in range(5))) for j in got]
    """
    other = other_process(topics, claim)

    async def claimer() -> list[int]:
        got: list[int] = []
        while (
            job := await db.jobs.find_one_and_update(
                {"state": "open"},
                {"$set": {"state": "taken"}},
                return_document=ReturnDocument.AFTER,
            )
        ) is not None:
            got.append(job["_id"])
        return got

    mine = [j for got in await asyncio.gather(*(claimer() for _ in range(5))) for j in got]
    claimed = mine + result_of(other)
    assert sorted(claimed) == list(range(100))


async def test_a_conditional_replace_lets_exactly_one_of_many_writers_win(
    db: AsyncDatabase[Document],
) -> None:
    """`replace_one({_id, version: v})` is a compare-and-set: the unit of work's write."""
    await db.cases.insert_one({"_id": "c1", "version": 1, "writer": None})
    results = await asyncio.gather(
        *(
            db.cases.replace_one({"_id": "c1", "version": 1}, {"version": 2, "writer": n})
            for n in range(20)
        )
    )
    assert sum(r.modified_count for r in results) == 1
    assert (await db.cases.find_one({"_id": "c1"}) or {})["version"] == 2


async def test_a_unique_index_holds_under_concurrent_inserts(db: AsyncDatabase[Document]) -> None:
    await db.claims.create_index([("key", ASCENDING)], unique=True)

    async def insert(n: int) -> bool:
        try:
            await db.claims.insert_one({"_id": n, "key": "same"})
        except DuplicateKeyError:
            return False
        return True

    assert sum(await asyncio.gather(*(insert(n) for n in range(20)))) == 1


async def test_an_upsert_guarded_by_a_filter_does_not_apply_twice(
    db: AsyncDatabase[Document],
) -> None:
    """The consumers' tracking: `{_id, seen: {$ne: e}}` + `$push` + upsert applies e once."""

    async def apply() -> bool:
        try:
            result = await db.effects.update_one(
                {"_id": "c1", "seen": {"$ne": "e1"}},
                {"$push": {"seen": "e1"}, "$inc": {"n": 1}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        return result.modified_count == 1 or result.upserted_id is not None

    assert sum(await asyncio.gather(*(apply() for _ in range(10)))) == 1
    assert (await db.effects.find_one({"_id": "c1"}) or {})["n"] == 1


def _index_names(plan: Any) -> set[str]:
    """Every `Index Name` in a PostgreSQL plan (FerretDB's explain passes it through)."""
    found: set[str] = set()
    if isinstance(plan, dict):
        if "Index Name" in plan:
            found.add(str(plan["Index Name"]))
        for value in plan.values():
            found |= _index_names(value)
    elif isinstance(plan, list):
        for value in plan:
            found |= _index_names(value)
    return found


async def test_equality_lookups_use_an_index(db: AsyncDatabase[Document]) -> None:
    """By `_id` and by an indexed field (equal, or `$in` a list of strings), PostgreSQL searches
    an index instead of reading the table (what made the SQLite build 0.7 lookups/s at 50k
    documents)."""
    info = await db.client.admin.command("buildInfo")
    if "ferretdbVersion" not in info:
        pytest.skip("explain plans are FerretDB's; a real mongod plans its own way")
    await db.cases.create_index([("case_id", ASCENDING), ("version", ASCENDING)])
    await db.cases.insert_many(
        [{"_id": f"d{n}", "case_id": f"c{n % 500}", "version": n} for n in range(5000)]
    )
    for query in (
        {"_id": "d42"},
        {"case_id": "c7"},
        {"_id": {"$in": ["d1", "d2", "d3"]}},  # the unit of work's bulk read
        {"case_id": {"$in": ["c1", "c2"]}},
    ):
        explained = await db.command("explain", {"find": "cases", "filter": query})
        assert explained.get("filterPushdown") is True, query
        assert _index_names(explained["queryPlanner"]), (query, explained["queryPlanner"])
    assert len(await db.cases.find({"case_id": "c7"}).to_list()) == 10
    assert len(await db.cases.find({"_id": {"$in": ["d1", "d2", "nope"]}}).to_list()) == 2


async def test_a_bulk_update_of_many_statements_completes(db: AsyncDatabase[Document]) -> None:
    """One `update` command of 200 statements (the outbox relay's bulk `$unset`). FerretDB kept
    each statement's query, and its pooled PostgreSQL connection, open until the command
    ended, so 50 statements took the whole pool and the server stalled for every client."""
    await db.outbox.insert_many([{"_id": n, "pending": True} for n in range(200)])
    bulk = [UpdateOne({"_id": n}, {"$unset": {"pending": ""}}) for n in range(200)]
    result = await asyncio.wait_for(db.outbox.bulk_write(bulk, ordered=False), timeout=60)
    assert result.modified_count == 200
    assert await asyncio.wait_for(db.outbox.count_documents({"pending": True}), timeout=10) == 0
