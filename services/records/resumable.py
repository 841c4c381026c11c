"""Resumable uploads straight to the object store: the bytes of a large file or a CD zip go
from the family's browser (or any S3 multipart client) to the bucket in parts, through
short-lived presigned URLs, and never through this process; a dropped connection or a closed
laptop loses only the part in flight.

    POST   /cases/{id}/uploads                     {kind, filename, size_bytes, content_type?}
    POST   /cases/{id}/uploads/{upload}/parts      {numbers}: a presigned PUT URL per part, and
                                                   the parts the store already has (to resume)
    POST   /cases/{id}/uploads/{upload}/complete   records assembles the object, then ingests
                                                   it in the background like a posted file
    GET    /cases/{id}/uploads/{upload}            where it stands (and the result)
    DELETE /cases/{id}/uploads/{upload}            abandon it

A presigned URL writes one part of the one object of that upload (`incoming/<case>/<upload>`),
for `RECORDS_UPLOAD_URL_TTL_S`; an upload not completed within `RECORDS_UPLOAD_SESSION_TTL_S`
is aborted by the sweep, which also picks up an ingest a crash interrupted (ingesting twice is
harmless: a file already kept is found again by its SHA-256).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

from minio import Minio
from minio.datatypes import Part
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pymongo.asynchronous.database import AsyncDatabase

from services.records import ingest, rules
from services.records.domain import DomainError
from services.records.handlers import Ports, load_case
from services.records.uploads import HEAD_BYTES, SpooledFile, safe_filename, spooled
from shared.auth import Principal
from shared.errors import ApiError
from shared.mongo import Document

log = logging.getLogger(__name__)

MIB = 1024 * 1024
# S3: parts of 5 MiB at least (but the last), 10,000 parts at most.
MIN_PART_BYTES = 8 * MIB
MAX_PARTS = 10_000
UploadState = Literal["open", "received", "ingesting", "done", "failed", "aborted"]
FINAL: frozenset[str] = frozenset({"done", "failed", "aborted"})


def part_size_for(size_bytes: int) -> int:
    """Parts of 8 MiB, larger (in whole MiB) when a file would need more than 10,000."""
    needed = math.ceil(size_bytes / MAX_PARTS)
    return max(MIN_PART_BYTES, math.ceil(needed / MIB) * MIB)


class UploadStarted(BaseModel):
    """Ask to upload one file for a checklist item in parts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = Field(min_length=1, max_length=100, description="The checklist item.")
    filename: str = Field(min_length=1, max_length=255)
    size_bytes: int = Field(gt=0, description="The whole file's size.")
    content_type: str = Field(default="application/octet-stream", max_length=200)


class PartsWanted(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    numbers: list[int] = Field(min_length=1, max_length=1000, description="Part numbers, from 1.")


class UploadSession(BaseModel):
    """One resumable upload as records keeps it (and shows it to its uploader)."""

    model_config = ConfigDict(frozen=True)

    upload_id: str
    case_id: str
    kind: str
    filename: str
    size_bytes: int
    content_type: str
    part_size: int
    part_count: int
    state: UploadState = "open"
    created_at: AwareDatetime
    expires_at: AwareDatetime
    uploaded_by: str
    uploaded_by_role: str
    # A hospital system's right to a case comes from its organization: the ingest acts as the
    # uploader, so it needs it too.
    uploaded_by_organization: str | None = None
    result: dict[str, Any] | None = None
    error: dict[str, str] | None = None

    @property
    def key(self) -> str:
        return f"incoming/{self.case_id}/{self.upload_id}"


class PresignedPart(BaseModel):
    number: int
    url: str


class UploadedPart(BaseModel):
    number: int
    etag: str
    size_bytes: int


class PartsAnswer(BaseModel):
    upload_id: str
    part_size: int
    part_count: int
    urls: list[PresignedPart]
    urls_expire_at: AwareDatetime
    uploaded: list[UploadedPart] = Field(description="Parts the store already holds: skip them.")


class MultipartStore(Protocol):
    """The S3 multipart calls records makes (the bytes themselves go to presigned URLs)."""

    async def create(self, key: str, content_type: str) -> str: ...

    def presign_part(self, key: str, s3_upload_id: str, number: int, ttl: timedelta) -> str: ...

    async def parts(self, key: str, s3_upload_id: str) -> list[UploadedPart]: ...

    async def complete(self, key: str, s3_upload_id: str, parts: list[UploadedPart]) -> None: ...

    async def abort(self, key: str, s3_upload_id: str) -> None: ...


class MinioMultipart:
    """S3 multipart upload on MinIO. The SDK keeps these calls private (its `put_object` uses
    them); they are plain S3 API calls, so another S3 SDK could take their place."""

    def __init__(self, client: Minio, bucket: str, presigner: Minio | None = None) -> None:
        self._client = client
        self._bucket = bucket
        # Presigned URLs name the host the browser reaches, which may not be records' own.
        self._presigner = presigner or client

    async def create(self, key: str, content_type: str) -> str:
        headers: dict[str, str | list[str] | tuple[str]] = {"Content-Type": content_type}
        upload_id: str = await asyncio.to_thread(
            self._client._create_multipart_upload, self._bucket, key, headers
        )
        return upload_id

    def presign_part(self, key: str, s3_upload_id: str, number: int, ttl: timedelta) -> str:
        url: str = self._presigner.get_presigned_url(
            "PUT",
            self._bucket,
            key,
            expires=ttl,
            extra_query_params={"partNumber": str(number), "uploadId": s3_upload_id},
        )
        return url

    async def parts(self, key: str, s3_upload_id: str) -> list[UploadedPart]:
        def listed() -> list[UploadedPart]:
            found: list[UploadedPart] = []
            marker = 0
            while True:
                answer = self._client._list_parts(
                    self._bucket, key, s3_upload_id, part_number_marker=str(marker)
                )
                found += [
                    UploadedPart(number=p.part_number, etag=p.etag, size_bytes=p.size or 0)
                    for p in answer.parts
                ]
                if not answer.is_truncated:
                    return found
                marker = int(answer.next_part_number_marker or 0)

        return await asyncio.to_thread(listed)

    async def complete(self, key: str, s3_upload_id: str, parts: list[UploadedPart]) -> None:
        listed = [Part(p.number, p.etag) for p in sorted(parts, key=lambda p: p.number)]
        await asyncio.to_thread(
            self._client._complete_multipart_upload, self._bucket, key, s3_upload_id, listed
        )

    async def abort(self, key: str, s3_upload_id: str) -> None:
        await asyncio.to_thread(
            self._client._abort_multipart_upload, self._bucket, key, s3_upload_id
        )


class UploadSessions:
    """The `uploads` collection: one document per resumable upload, its state moved by
    conditional updates (two requests never both complete one upload)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._collection = db["uploads"]

    async def create_indexes(self) -> None:
        await self._collection.create_index([("state", 1), ("expires_at", 1)])

    async def add(self, session: UploadSession, s3_upload_id: str) -> None:
        document = session.model_dump()
        await self._collection.insert_one(
            {"_id": session.upload_id, **document, "s3_upload_id": s3_upload_id}
        )

    async def get(self, upload_id: str) -> tuple[UploadSession, str] | None:
        found = await self._collection.find_one({"_id": upload_id})
        if found is None:
            return None
        return UploadSession.model_validate(found), str(found["s3_upload_id"])

    async def move(
        self, upload_id: str, before: Sequence[str], after: UploadState, **changes: Any
    ) -> bool:
        answer = await self._collection.update_one(
            {"_id": upload_id, "state": {"$in": list(before)}},
            {"$set": {"state": after, **changes}},
        )
        return answer.modified_count == 1

    async def due(self, now: datetime) -> list[tuple[UploadSession, str]]:
        """Open uploads past their time, and ingests a stopped process left unfinished."""
        found = self._collection.find(
            {
                "$or": [
                    {"state": "open", "expires_at": {"$lt": now}},
                    {"state": {"$in": ["received", "ingesting"]}},
                ]
            }
        )
        return [(UploadSession.model_validate(d), str(d["s3_upload_id"])) async for d in found]


@dataclass
class ResumableUploads:
    """The routes' logic; ingests run as tasks of this process (and the sweep finds those a
    crash stopped)."""

    ports: Ports
    sessions: UploadSessions
    multipart: MultipartStore
    new_id: Any
    _running: set[asyncio.Task[None]] | None = None

    @property
    def settings(self) -> Any:
        return self.ports.settings

    async def start(
        self, principal: Principal, case_id: str, asked: UploadStarted
    ) -> UploadSession:
        case = await load_case(self.ports, principal, "upload", case_id)
        case.ensure_open()
        if asked.kind not in rules.ITEMS:
            raise ApiError(422, "unknown_item", "kind: not a checklist item", "kind")
        if asked.size_bytes > self.settings.max_upload_bytes:
            limit = self.settings.max_upload_bytes
            raise ApiError(
                413, "too_large", f"size_bytes: larger than the limit of {limit}", "size_bytes"
            )
        now = datetime.now(UTC)
        part_size = part_size_for(asked.size_bytes)
        session = UploadSession(
            upload_id=self.new_id(),
            case_id=case_id,
            kind=asked.kind,
            filename=safe_filename(asked.filename),
            size_bytes=asked.size_bytes,
            content_type=asked.content_type,
            part_size=part_size,
            part_count=math.ceil(asked.size_bytes / part_size),
            created_at=now,
            expires_at=now + timedelta(seconds=self.settings.upload_session_ttl_s),
            uploaded_by=principal.subject,
            uploaded_by_role=principal.role,
            uploaded_by_organization=principal.organization,
        )
        s3_upload_id = await self.multipart.create(session.key, asked.content_type)
        await self.sessions.add(session, s3_upload_id)
        log.info(
            "resumable upload started", extra={"case_id": case_id, "upload": session.upload_id}
        )
        return session

    async def find(
        self, principal: Principal, case_id: str, upload_id: str
    ) -> tuple[UploadSession, str]:
        await load_case(self.ports, principal, "upload", case_id)
        found = await self.sessions.get(upload_id)
        if found is None or found[0].case_id != case_id:
            raise ApiError(404, "not_found", "upload_id: no such upload for this case", "upload_id")
        return found

    async def presign(
        self, principal: Principal, case_id: str, upload_id: str, numbers: list[int]
    ) -> PartsAnswer:
        session, s3_upload_id = await self.find(principal, case_id, upload_id)
        _require_state(session, "open")
        wrong = [n for n in numbers if not 1 <= n <= session.part_count]
        if wrong:
            raise ApiError(
                422,
                "invalid_field",
                f"numbers: parts are numbered 1 to {session.part_count}",
                "numbers",
            )
        ttl = timedelta(seconds=self.settings.upload_url_ttl_s)
        urls = [
            PresignedPart(
                number=n, url=self.multipart.presign_part(session.key, s3_upload_id, n, ttl)
            )
            for n in sorted(set(numbers))
        ]
        return PartsAnswer(
            upload_id=upload_id,
            part_size=session.part_size,
            part_count=session.part_count,
            urls=urls,
            urls_expire_at=datetime.now(UTC) + ttl,
            uploaded=await self.multipart.parts(session.key, s3_upload_id),
        )

    async def complete(self, principal: Principal, case_id: str, upload_id: str) -> UploadSession:
        session, s3_upload_id = await self.find(principal, case_id, upload_id)
        _require_state(session, "open")
        parts = await self.multipart.parts(session.key, s3_upload_id)
        numbers = [p.number for p in parts]
        if numbers != list(range(1, session.part_count + 1)):
            missing = sorted(set(range(1, session.part_count + 1)) - set(numbers))
            raise ApiError(
                409,
                "upload_incomplete",
                f"parts: {len(missing)} of {session.part_count} parts are still to send",
                "parts",
            )
        if sum(p.size_bytes for p in parts) != session.size_bytes:
            raise ApiError(
                409, "upload_size_mismatch", "parts: they do not add up to size_bytes", "parts"
            )
        if not await self.sessions.move(upload_id, ["open"], "received"):
            raise ApiError(409, "upload_not_open", "the upload is no longer open")
        await self.multipart.complete(session.key, s3_upload_id, parts)
        self._ingest_later(session.model_copy(update={"state": "received"}))
        return session.model_copy(update={"state": "received"})

    async def abort(self, principal: Principal, case_id: str, upload_id: str) -> UploadSession:
        session, s3_upload_id = await self.find(principal, case_id, upload_id)
        _require_state(session, "open")
        if await self.sessions.move(upload_id, ["open"], "aborted"):
            await self.multipart.abort(session.key, s3_upload_id)
        return session.model_copy(update={"state": "aborted"})

    async def sweep(self) -> int:
        """Abort what expired; finish ingests a stopped process left behind."""
        handled = 0
        for session, s3_upload_id in await self.sessions.due(datetime.now(UTC)):
            if session.state == "open":
                if await self.sessions.move(session.upload_id, ["open"], "aborted"):
                    await self.multipart.abort(session.key, s3_upload_id)
                    handled += 1
            elif not self._is_running(session.upload_id):
                self._ingest_later(session)
                handled += 1
        return handled

    async def run_sweeps(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sweep()
            except Exception:  # the store or S3 may be down for a moment: try again later
                log.exception("upload sweep failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.upload_sweep_interval_s)
        for task in list(self._running or ()):
            task.cancel()

    def _is_running(self, upload_id: str) -> bool:
        return any(t.get_name() == f"ingest-{upload_id}" for t in self._running or ())

    def _ingest_later(self, session: UploadSession) -> None:
        if self._running is None:
            self._running = set()
        task = asyncio.create_task(self.ingest(session), name=f"ingest-{session.upload_id}")
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def ingest(self, session: UploadSession) -> None:
        """The assembled object, checked and kept as a posted file is (same rules, checklist
        and events), then removed from `incoming/`."""
        await self.sessions.move(session.upload_id, ["received", "ingesting"], "ingesting")
        uploader = Principal(
            subject=session.uploaded_by,
            role=session.uploaded_by_role,
            organization=session.uploaded_by_organization,
            case_ids=frozenset({session.case_id}),
            token_id=f"upload:{session.upload_id}",
        )
        try:
            async with spooled(self.settings.spool_dir) as spool:
                path = spool.new_path()
                await self.ports.objects.get_file(session.key, path)
                received = await asyncio.to_thread(_spooled_file, path, session)
                outcome = await ingest.receive_upload(
                    self.ports,
                    principal=uploader,
                    case_id=session.case_id,
                    kind=session.kind,
                    upload=received,
                    spool=spool,
                )
        except (ApiError, DomainError) as refused:
            # The rules said no (the case was cancelled meanwhile, the file is not what it
            # claims): final, unlike a store or S3 failure, which the next sweep retries.
            error = {"code": refused.code, "message": refused.message}
            await self.sessions.move(session.upload_id, ["ingesting"], "failed", error=error)
            await self.ports.objects.delete(session.key)
            return
        except Exception:
            log.exception(
                "resumable upload ingest failed; the next sweep tries again",
                extra={"case_id": session.case_id, "upload": session.upload_id},
            )
            return
        await self.sessions.move(
            session.upload_id, ["ingesting"], "done", result=_result_of(outcome)
        )
        await self.ports.objects.delete(session.key)
        log.info(
            "resumable upload ingested",
            extra={"case_id": session.case_id, "upload": session.upload_id},
        )


def _require_state(session: UploadSession, state: UploadState) -> None:
    if session.state != state:
        raise ApiError(409, "upload_not_open", f"the upload is {session.state}")


def _spooled_file(path: Path, session: UploadSession) -> SpooledFile:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        head = source.read(HEAD_BYTES)
        digest.update(head)
        while chunk := source.read(MIB):
            digest.update(chunk)
    return SpooledFile(
        path=path,
        filename=session.filename,
        declared_type=session.content_type,
        size_bytes=path.stat().st_size,
        sha256=digest.hexdigest(),
        head=head,
    )


def _result_of(outcome: ingest.DocumentReceipt | ingest.DicomReport) -> dict[str, Any]:
    if isinstance(outcome, ingest.DocumentReceipt):
        return {"document_id": outcome.entry.document_id, "duplicate": outcome.duplicate}
    return {
        "instances_stored": len(outcome.stored),
        "instances_already_kept": len(outcome.duplicates),
        "studies": outcome.study_uids,
        "skipped_files": outcome.skipped_files,
        "warnings": outcome.warnings,
    }
