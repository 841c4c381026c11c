"""The records service's own collections: one document per case, one per instance.

A case is one document (`_id` = case id) changed only through the unit of work
(shared/unit_of_work.py): the new state, the events it causes and the id of the consumed event
in one conditional write, so the state and its events cannot part and two writers cannot both
win. An instance document is inserted (claimed) under its upload's id before its object is
stored; it is served only once the case document lists that upload id, which the same write
that counts the instances and queues their events adds.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from services.records.case_documents import case_from_document
from services.records.domain import CaseRecord
from shared.batched_inserts import BatchedInserts
from shared.mongo import Document
from shared.unit_of_work import APPLIED_FIELD, OUTBOX_FIELD, CaseDocuments, Loaded

ClaimOutcome = Literal["claimed", "duplicate", "conflict"]


@dataclass(frozen=True)
class InstanceRecord:
    """One instance's entry in the index; `object_key` names the object holding its bytes: a
    pack of one ingest's instances, where they start at `offset` (packs.py), or, with no
    offset (stored before packs; de-identified copies), an object that is the instance alone."""

    case_id: str
    sop_instance_uid: str
    sop_class_uid: str
    study_instance_uid: str
    series_instance_uid: str
    transfer_syntax_uid: str
    modality: str
    instance_number: int | None
    size_bytes: int
    sha256: str
    object_key: str
    deidentified: bool = False
    offset: int | None = None

    @classmethod
    def from_document(cls, doc: Document) -> InstanceRecord:
        # Fields added later are absent from older documents: their defaults read them.
        return cls(**{name: doc[name] for name in cls.__dataclass_fields__ if name in doc})


class RecordsStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.cases: AsyncCollection[Document] = db["cases"]
        self.instances: AsyncCollection[Document] = db["instances"]
        self.documents = CaseDocuments(self.cases)
        self.instance_claims = BatchedInserts(self.instances)

    async def create_indexes(self) -> None:
        await self.instances.create_index(
            [("case_id", ASCENDING), ("study_instance_uid", ASCENDING)]
        )
        await self.instances.create_index(
            [("study_instance_uid", ASCENDING), ("series_instance_uid", ASCENDING)]
        )
        await self.instances.create_index([("upload_id", ASCENDING)])
        # The access filters of listings (access.visible_cases_query) and QIDO's study filter.
        await self.cases.create_index([("organization_id", ASCENDING)])
        await self.cases.create_index([("expert_ids", ASCENDING)])
        await self.cases.create_index([("study_uids", ASCENDING)])
        await self.cases.create_index([("patient_key", ASCENDING)])

    async def erase_case(self, case_id: str) -> int:
        """Delete the case's instance index, resumable uploads and case document (erasure);
        returns how many documents went."""
        deleted = (await self.instances.delete_many({"case_id": case_id})).deleted_count
        uploads = self.cases.database["uploads"]  # resumable.py's sessions (file names)
        deleted += (await uploads.delete_many({"case_id": case_id})).deleted_count
        deleted += (await self.cases.delete_one({"_id": case_id})).deleted_count
        self.documents.forget(case_id)
        return deleted

    async def load(self, case_id: str, *, recent: bool = False) -> CaseRecord | None:
        """The case as stored; `recent`: the version this process last read or wrote will do
        (no round trip), for a check that the write after it makes again on what it writes."""
        remembered = self.documents.recalled(case_id) if recent else None
        return case_of(remembered or await self.documents.load(case_id))

    async def visible_case_ids(self, query: Document) -> list[str]:
        """The ids of the cases matching an access query (see access.py)."""
        cursor = self.cases.find(query, projection={"_id": 1})
        return [str(doc["_id"]) async for doc in cursor]

    async def cases_holding_study(self, study_uid: str) -> list[str]:
        """Every case holding this study (or a de-identified copy), whoever may see it."""
        return await self.visible_case_ids({"study_uids": study_uid})

    async def open_cases_of_patient(self, organization_id: str, keys: Sequence[str]) -> list[str]:
        """The open cases of an organization whose MRN (as patient_key) is one of `keys`."""
        query = {"organization_id": organization_id, "patient_key": {"$in": list(keys)}}
        cursor = self.cases.find({**query, "status": {"$ne": "cancelled"}}, projection={"_id": 1})
        return [str(doc["_id"]) async for doc in cursor.limit(2)]

    async def cases_with_imaging(self, query: Document) -> AsyncGenerator[CaseRecord]:
        """The cases matching an access query that hold studies, in case-id order (so QIDO's
        pages are stable); the caller stops reading once its page is full."""
        cursor = self.cases.find(
            {**query, "studies.0": {"$exists": True}},
            projection={OUTBOX_FIELD: 0, APPLIED_FIELD: 0},
        ).sort("_id", ASCENDING)
        try:
            async for doc in cursor:
                yield _case_of_document(doc)
        finally:
            await cursor.close()

    async def claim_instance(
        self, record: InstanceRecord, *, upload_id: str, now: datetime, stale_after: timedelta
    ) -> ClaimOutcome:
        """Reserve an instance for this upload: claimed, a duplicate of the same bytes, or a
        conflict (the same SOP Instance UID with different bytes is already held)."""
        doc = _instance_document(record, upload_id, now)
        for _ in range(3):
            # An upload's instances are claimed concurrently: their claims share writes.
            if await self.instance_claims.insert(doc):
                return "claimed"
            existing = await self.instances.find_one({"_id": doc["_id"]})
            if existing is None:
                continue  # released by a failed upload meanwhile: try again
            if existing["sha256"] == record.sha256:
                return "duplicate"
            if existing["claimed_at"] < now - stale_after and not await self._committed(existing):
                # Left behind by a process that died mid-upload: take it over.
                taken = await self.instances.replace_one(
                    {"_id": doc["_id"], "upload_id": existing["upload_id"]}, doc
                )
                if taken.modified_count == 1:
                    return "claimed"
            return "conflict"
        return "conflict"

    async def release_claims(self, upload_id: str) -> None:
        """Forget an upload that failed before it was committed (never one that was)."""
        await self.instances.delete_many({"upload_id": upload_id})

    async def add_instances(self, records: Sequence[InstanceRecord], *, upload_id: str) -> None:
        """Index instances this service wrote itself (de-identified copies) under one upload
        id; they become visible when the case commits that id. Repeating it is harmless."""
        docs = [_instance_document(r, upload_id, datetime.now(UTC)) for r in records]
        if docs:
            with contextlib.suppress(BulkWriteError):  # already indexed by an earlier attempt
                await self.instances.insert_many(docs, ordered=False)

    async def visible_instances(
        self,
        *,
        case_ids: Sequence[str] | None,
        study: str,
        series: str | None = None,
        sop: str | None = None,
    ) -> list[InstanceRecord]:
        """Instances of committed uploads only: a claim still being stored is never served."""
        query: Document = {"study_instance_uid": study}
        if case_ids is not None:
            query["case_id"] = {"$in": list(case_ids)}
        if series is not None:
            query["series_instance_uid"] = series
        if sop is not None:
            query["sop_instance_uid"] = sop
        docs = await self.instances.find(query).sort("instance_number", ASCENDING).to_list()
        cases = sorted({doc["case_id"] for doc in docs})
        committed = {
            str(case["_id"]): set(case.get("uploads", []))
            async for case in self.cases.find({"_id": {"$in": cases}}, projection={"uploads": 1})
        }
        return [
            InstanceRecord.from_document(doc)
            for doc in docs
            if doc["upload_id"] in committed.get(doc["case_id"], set())
        ]

    async def upload_committed(self, case_id: str, upload_id: str) -> bool:
        case = await self.cases.find_one({"_id": case_id}, projection={"uploads": 1})
        return case is not None and upload_id in case.get("uploads", [])

    async def _committed(self, instance: Document) -> bool:
        return await self.upload_committed(instance["case_id"], instance["upload_id"])


def case_of(loaded: Loaded) -> CaseRecord | None:
    """The case as the unit of work read it (None if there is none)."""
    if loaded.state is None:
        return None
    return case_from_document(
        {**loaded.state, "case_id": loaded.case_id, "version": loaded.version}
    )


def _case_of_document(doc: Document) -> CaseRecord:
    return case_from_document({**doc, "case_id": doc["_id"]})


def _instance_document(record: InstanceRecord, upload_id: str, now: datetime) -> Document:
    return {
        "_id": _instance_id(record.case_id, record.sop_instance_uid),
        **{name: getattr(record, name) for name in InstanceRecord.__dataclass_fields__},
        "upload_id": upload_id,
        "claimed_at": now,
    }


def _instance_id(case_id: str, sop_instance_uid: str) -> str:
    return f"{case_id}/{sop_instance_uid}"
