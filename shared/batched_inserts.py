"""Group commit for inserts: documents that concurrent callers insert into one collection go
to the store as one `insert_many`, one round trip instead of one each.

The first caller's document is written at once (alone, if nobody else is waiting, so nothing
waits for company); callers that arrive while a write is in flight join the next one. Each
caller learns about its own document only: True once it is stored, False when its `_id`
existed already (an insert-first record seen before), and the error when the write failed.
Used where many small records arrive at once: a consumer batch's timeline milestones (its
partitions are handled concurrently) and the audit records of concurrent requests.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from shared.mongo import Document

DUPLICATE_KEY = 11000


@dataclass
class _Batch:
    done: asyncio.Future[set[int]]  # the indexes of the documents that existed already
    documents: list[Document] = field(default_factory=list)


class BatchedInserts:
    """`insert(doc)` for concurrent callers, written together (at most `max_batch` a write)."""

    def __init__(self, collection: AsyncCollection[Document], *, max_batch: int = 500) -> None:
        self.collection = collection
        self.max_batch = max_batch
        self._waiting: deque[_Batch] = deque()  # not yet being written, oldest first
        self._writing = False

    async def insert(self, document: Document) -> bool:
        """Store `document`; False if its `_id` was taken. Raises what the write raised."""
        if not self._waiting or len(self._waiting[-1].documents) >= self.max_batch:
            self._waiting.append(_Batch(asyncio.get_running_loop().create_future()))
        batch = self._waiting[-1]
        index = len(batch.documents)
        batch.documents.append(document)
        if not self._writing:
            self._writing = True
            asyncio.create_task(self._write_waiting())  # noqa: RUF006 (ends by itself)
        # Shielded: a caller that gives up must not cancel the others' write.
        existed = await asyncio.shield(batch.done)
        return index not in existed

    async def _write_waiting(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting.popleft()
                try:
                    existed = await self._insert_many(batch.documents)
                except Exception as exc:
                    batch.done.set_exception(exc)
                except BaseException:  # cancelled (the process stops): so are its callers
                    for cancelled in (batch, *self._waiting):
                        cancelled.done.cancel()
                    self._waiting.clear()
                    raise
                else:
                    batch.done.set_result(existed)
        finally:
            self._writing = False

    async def _insert_many(self, documents: list[Document]) -> set[int]:
        try:
            await self.collection.insert_many(documents, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            return {int(e["index"]) for e in errors}
        return set()
