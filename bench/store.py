"""Benchmark 7: the local store, FerretDB on PostgreSQL (with our patch) vs FerretDB on SQLite.

Both run the same FerretDB binary (deploy/local/ferretdb-postgresql.patch also carries the
one-line SQLite `_id` index fix the SQLite build had), so the difference is the backend and
what the patch lets PostgreSQL do with indexes. The SQLite server is started here on a free
loopback port and stopped afterwards. Each figure is operations per second from 8 concurrent
connections on a collection of case-sized documents with an index on `case_id`, each phase
stopped after a few seconds (the SQLite backend's scans can take minutes otherwise).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from bench.harness import Platform, free_port
from bench.results import BenchResult, Figure, Target
from deploy.local.stack import provision
from shared.mongo import Document

NAME = "store"
TITLE = "Local store: FerretDB on PostgreSQL (patched) vs on SQLite, same binary"
WORKERS = 8
PHASE_S = 5.0
DOCUMENT = {"record": {"summary": "x" * 2000, "items": list(range(50))}, "outbox": {}}


@asynccontextmanager
async def sqlite_ferretdb(scratch: Path) -> AsyncIterator[str]:
    """FerretDB with its SQLite backend on a free loopback port; yields its URL."""
    binary = (await asyncio.to_thread(provision, ("mongo",)))["mongo"]
    data, port = scratch / "ferretdb-sqlite", free_port()
    data.mkdir(parents=True, exist_ok=True)
    argv = [
        str(binary),
        "--handler=sqlite",
        f"--sqlite-url=file:{data}/",
        f"--listen-addr=127.0.0.1:{port}",
        f"--state-dir={data}",
        "--telemetry=disable",
        "--log-level=warn",
        "--debug-addr=-",
    ]
    with (scratch / "ferretdb-sqlite.log").open("w") as log:
        process = await asyncio.create_subprocess_exec(*argv, stdout=log, stderr=subprocess.STDOUT)
    url = f"mongodb://127.0.0.1:{port}/"
    try:
        client: AsyncMongoClient[Document] = AsyncMongoClient(url, retryWrites=False)
        for _ in range(100):
            try:
                await client.admin.command("ping")
                break
            except Exception:
                await asyncio.sleep(0.1)
        await client.close()
        yield url
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)


async def rate(operation: Callable[[int], Awaitable[Any]], limit: int) -> float:
    """Operations per second from WORKERS concurrent loops, for PHASE_S or `limit` operations."""
    done = 0
    deadline = time.monotonic() + PHASE_S

    async def worker(w: int) -> None:
        nonlocal done
        i = w
        while time.monotonic() < deadline and i < limit:
            await operation(i)
            done += 1
            i += WORKERS

    started = time.monotonic()
    await asyncio.gather(*(worker(w) for w in range(WORKERS)))
    return done / (time.monotonic() - started)


async def measure(url: str, documents: int) -> dict[str, float]:
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        url, retryWrites=False, maxPoolSize=WORKERS
    )
    name = f"bench_store_{secrets.token_hex(3)}"
    cases: AsyncCollection[Document] = client[name]["cases"]
    try:
        await cases.create_index([("case_id", ASCENDING)])
        for start in range(0, documents, 1000):
            batch = range(start, min(documents, start + 1000))
            await cases.insert_many(
                [{**DOCUMENT, "_id": f"c{i}", "case_id": f"k{i}", "version": 0} for i in batch]
            )
        spread = 7919  # a prime: consecutive operations touch documents far apart

        async def by_id(i: int) -> None:
            await cases.find_one({"_id": f"c{i * spread % documents}"})

        async def by_index(i: int) -> None:
            await cases.find_one({"case_id": f"k{i * spread % documents}"})

        async def conditional_update(i: int) -> None:
            doc_id = f"c{i * spread % documents}"
            current = await cases.find_one({"_id": doc_id}, projection={"version": 1})
            assert current is not None
            await cases.update_one(
                {"_id": doc_id, "version": current["version"]},
                {"$set": {"record.step": i}, "$inc": {"version": 1}},
            )

        await cases.insert_one({"_id": "counter", "count": 0})

        async def increment(_i: int) -> None:
            await cases.update_one({"_id": "counter"}, {"$inc": {"count": 1}})

        figures = {
            "by_id": await rate(by_id, 1_000_000),
            "by_index": await rate(by_index, 1_000_000),
            "conditional_update": await rate(conditional_update, 1_000_000),
        }
        await rate(increment, 400)
        counter = await cases.find_one({"_id": "counter"})
        figures["increments_kept_of_400"] = float((counter or {}).get("count", 0))
        return figures
    finally:
        await client.drop_database(name)
        await client.close()


async def run(platform: Platform) -> BenchResult:
    documents = 2_000 if platform.options.quick else 20_000
    result = BenchResult(NAME, TITLE)
    postgres = await measure(os.environ["MONGO_URL"], documents)
    async with sqlite_ferretdb(platform.scratch) as url:
        sqlite = await measure(url, documents)
    for key, label in (
        ("by_id", "finds by `_id`"),
        ("by_index", "finds by an indexed field"),
        ("conditional_update", "read + conditional update by `{_id, version}`"),
    ):
        result.figures.append(
            Figure(
                f"{label}/s at {documents:,} documents, {WORKERS} connections",
                postgres[key],
                "ops/s",
                reference_name="FerretDB on SQLite, same run",
                reference_value=sqlite[key],
                target=Target(">", 1.0, "ratio") if key == "by_index" else None,
            )
        )
    result.figures.append(
        Figure(
            f"concurrent `$inc` kept of 400 ({WORKERS} connections)",
            postgres["increments_kept_of_400"],
            "updates",
            reference_name="FerretDB on SQLite, same run",
            reference_value=sqlite["increments_kept_of_400"],
            target=Target(">=", 400),
        )
    )
    result.details = {"postgresql": postgres, "sqlite": sqlite, "documents": documents}
    result.notes.append(
        "Same binary for both backends, so the write lock of our patch also keeps SQLite from "
        "losing increments here; the SQLite build the platform ran before had no such lock "
        "(10 of 50 kept in issue 13's measurement)."
    )
    return result
