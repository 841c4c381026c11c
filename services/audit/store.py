"""The audit service's one collection: insert-only, one document per audit event id.

No code path here updates or deletes a record; a redelivered event hits the unique `_id` and
changes nothing. Production gives this database its own user with insert and find rights only.
"""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.contracts.access_recorded import AccessRecorded
from shared.envelope import CloudEvent
from shared.mongo import Document


class AuditStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.access_log: AsyncCollection[Document] = db["access_log"]

    async def ensure_indexes(self) -> None:
        await self.access_log.create_index([("case_id", ASCENDING), ("recorded_at", ASCENDING)])

    async def append(self, event: CloudEvent, record: AccessRecorded) -> bool:
        """Keep one audit event; False when it was already kept."""
        document = {"_id": event.id, **record.model_dump(mode="python")}
        try:
            await self.access_log.insert_one(document)
        except DuplicateKeyError:
            return False
        return True

    async def for_case(self, case_id: str, *, limit: int) -> list[tuple[str, AccessRecorded]]:
        """The newest `limit` records of one case, oldest first."""
        cursor = (
            self.access_log.find({"case_id": case_id})
            .sort([("recorded_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        found = [(doc.pop("_id"), AccessRecorded.model_validate(doc)) async for doc in cursor]
        return found[::-1]
