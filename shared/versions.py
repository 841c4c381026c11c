"""Immutable versions of one case, `_id` = `<case id>#<version>`, found and written by `_id`.

The unique `_id` makes inserting the next version the compare-and-set: of two writers that
read the same version exactly one inserts the next. Every read here is by `_id` because that is
the only filter FerretDB 1.x on SQLite pushes down to an index; any other filter (such as
`{"case_id": ..}` sorted by version) reads and decodes the whole collection, which made each
event cost more the more cases the service had ever seen.

Finding the latest version starts from the version this process last saw for the case and
probes forward (`#v+1`, `#v+2`, ...). Each insert deletes the version two below it, so the
previous version stays as a landing place for a process whose knowledge is one write old.
A head per case (in `heads`, `_id` = case id) answers "is there such a case at all" and holds
the newest version number any writer announced; a process that has not seen the case (another
instance wrote it) starts from there. The head is only a hint: FerretDB 1.x may lose one of two
concurrent updates of it, and probing forward corrects a head that is behind. A hint that
points at a pruned version costs one scan.

What pruning gives up: a writer that read version v while others then wrote three more
versions before its own insert could insert a second v+1 (pruning freed that id). Keeping two
versions makes that need three writes by others inside one read-decide-insert of this one.
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
            await self._collection.delete_one({"_id": version_id(case_id, version - 2)})
        return doc_id

    async def _announce(self, case_id: str, version: int) -> None:
        with contextlib.suppress(DuplicateKeyError):  # two first writers raced to create it
            await self._heads.update_one(
                {"_id": case_id}, {"$max": {"version": version}}, upsert=True
            )

    async def get(
        self, case_id: str, version: int, projection: dict[str, Any] | None = None
    ) -> Document | None:
        """One version, by `_id`."""
        if projection is not None and any(projection.values()):
            projection = {**projection, "version": 1}  # inclusion projections keep `version`
        return await self._collection.find_one(
            {"_id": version_id(case_id, version)}, projection=projection
        )

    def _remember(self, case_id: str, version: int) -> None:
        self._hints[case_id] = version
        self._hints.move_to_end(case_id)
        if len(self._hints) > HINTS_KEPT:
            self._hints.popitem(last=False)
