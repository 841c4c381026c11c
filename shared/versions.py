"""Immutable versions of one case, `_id` = `<case id>#<version>`, found and written by `_id`.

The unique `_id` makes inserting the next version the compare-and-set: of two writers that
read the same version exactly one inserts the next. Every read here is by `_id` because that is
the only filter FerretDB 1.x on SQLite pushes down to an index; any other filter (such as
`{"case_id": ..}` sorted by version) reads and decodes the whole collection, which made each
event cost more the more cases the service had ever seen.

Finding the latest version starts from the version this process last saw for the case and
probes forward (`#v+1`, `#v+2`, ...). Each insert deletes the version two below it, so the
previous version stays as a landing place for a process whose knowledge is one write old.
Version 1 is not deleted but replaced by a tombstone (`{"_id": .., "pruned": true}`, no other
field, so no query by a field matches it): its `_id` stays taken, so a process that read "no
such case" long ago cannot start a second chain.
A head per case (in `heads`, `_id` = case id) answers "is there such a case at all" and holds
the newest version number any writer announced; a process that has not seen the case (another
instance wrote it) starts from there. The head is only a hint: FerretDB 1.x may lose one of two
concurrent updates of it, and probing forward corrects a head that is behind. A hint that
points at a pruned version costs one scan.

Deleting frees an `_id`: a writer that read version v while others wrote three more would
insert a second v+1 beside them, and their updates would be lost (eight uploads at once to one
case did that). So a writer checks, just before its insert, that the version it read is still
there (`save_next_version` in outbox.py reads it anyway, for its pending events): once v is
pruned, v+1 may be too. What is left is the time between that read and the insert.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from shared.mongo import Document

# Cases whose latest version this process remembers; beyond this the oldest are forgotten.
HINTS_KEPT = 100_000
# What version 1 becomes when it is pruned: its `_id` stays taken.
TOMBSTONE: Document = {"pruned": True}
# A filter that matches versions and never a tombstone, for queries that name no other field.
VERSIONS_ONLY: Document = {"case_id": {"$exists": True}}


def version_id(case_id: str, version: int) -> str:
    return f"{case_id}#{version:010d}"


class VersionChain:
    def __init__(
        self,
        collection: AsyncCollection[Document],
        heads: AsyncCollection[Document],
    ) -> None:
        self._collection = collection
        self._heads = heads
        self._hints: OrderedDict[str, int] = OrderedDict()

    async def latest(
        self, case_id: str, projection: dict[str, Any] | None = None
    ) -> Document | None:
        """The newest version of the case, or None if it has none."""
        hint = self._hints.get(case_id)
        if hint is None:
            head = await self._heads.find_one({"_id": case_id})
            if head is None:
                return None
            hint = int(head.get("version") or 1)
        found = await self.get(case_id, hint, projection)
        if found is None:
            # Known only to another process, or pruned since: one scan finds the newest.
            found = await self._collection.find_one(
                {"case_id": case_id}, projection=projection, sort=[("version", DESCENDING)]
            )
            if found is None:
                return None
        while (newer := await self.get(case_id, found["version"] + 1, projection)) is not None:
            found = newer
        self._remember(case_id, found["version"])
        return found

    async def insert(self, case_id: str, version: int, doc: Document) -> str | None:
        """Insert version `version` (its `_id`, `case_id` and `version` are set here); returns
        the `_id`, or None if another writer inserted that version first."""
        doc_id = version_id(case_id, version)
        try:
            await self._collection.insert_one(
                {**doc, "_id": doc_id, "case_id": case_id, "version": version}
            )
        except DuplicateKeyError:
            self._hints.pop(case_id, None)
            if version == 1:
                await self._announce(case_id, 1)  # the first writer may have died before it
            return None
        if version % 2:
            # Readers elsewhere start from the head; the previous version is kept as well, so
            # a head one version behind still lands, and every other announcement is enough.
            await self._announce(case_id, version)
        self._remember(case_id, version)
        if version > 2:
            await self.prune(case_id, version - 2)
        return doc_id

    async def prune(self, case_id: str, version: int) -> None:
        """Remove a superseded version (its pending events live on in the versions after it,
        which carry them forward); version 1 becomes a tombstone."""
        doc_id = version_id(case_id, version)
        if version == 1:
            await self._collection.replace_one({"_id": doc_id}, dict(TOMBSTONE))
        else:
            await self._collection.delete_one({"_id": doc_id})

    def forget(self, case_id: str) -> None:
        """Drop what this process remembers of the case (it read a version no longer there)."""
        self._hints.pop(case_id, None)

    async def _announce(self, case_id: str, version: int) -> None:
        with contextlib.suppress(DuplicateKeyError):  # two first writers raced to create it
            await self._heads.update_one(
                {"_id": case_id}, {"$max": {"version": version}}, upsert=True
            )

    async def get(
        self, case_id: str, version: int, projection: dict[str, Any] | None = None
    ) -> Document | None:
        """One version, by `_id` (None if it was never written or is pruned)."""
        if projection is not None and any(projection.values()):
            # Inclusion projections keep what tells a version from a tombstone.
            projection = {**projection, "version": 1, "pruned": 1}
        found = await self._collection.find_one(
            {"_id": version_id(case_id, version)}, projection=projection
        )
        return None if found is None or found.get("pruned") else found

    def _remember(self, case_id: str, version: int) -> None:
        self._hints[case_id] = version
        self._hints.move_to_end(case_id)
        if len(self._hints) > HINTS_KEPT:
            self._hints.popitem(last=False)
