"""Packs: one upload's DICOM instances appended into one object (or a few), read back by range.

An object per instance cost the object store one object, one metadata write and one fsync
each (about 2 CPU-s per 158 MB study in MinIO), so an ingest appends the instances it keeps to
a pack file on disk and stores it as one object, rolling to the next pack past
`RECORDS_PACK_BYTES`. The index of byte ranges is the instance records themselves:
`object_key` names the pack, `offset` where the instance starts, `size_bytes` how long it is and
`sha256` what it must hash to. A record without `offset` (stored before packs, or a
de-identified copy) names an object that is the instance alone.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from services.records.store import InstanceRecord
from services.records.uploads import Spool
from shared.objectstore import DEFAULT_CHUNK, ObjectStore

PACK_CONTENT_TYPE = "application/octet-stream"  # many instances: no single DICOM media type
COPY_CHUNK = 1024 * 1024


def pack_prefix(case_id: str, upload_id: str) -> str:
    """The folder of one ingest's packs: a failed ingest deletes it whole, erasure with the case."""
    return f"cases/{case_id}/packs/{upload_id}/"


@dataclass(frozen=True)
class PackPosition:
    key: str
    offset: int


class PackWriter:
    """Appends files to the current pack file in its own spool directory; a pack that reaches
    `max_bytes` is stored while the next one fills, and `finish` stores the last. At most one
    pack is being stored at a time, so disk use and the SDK's part buffers stay bounded on a
    5 GB DVD. `close` must follow, whatever happened."""

    def __init__(
        self, objects: ObjectStore, spool_dir: Path | None, prefix: str, max_bytes: int
    ) -> None:
        self._objects = objects
        self._spool_dir = spool_dir
        self._spool: Spool | None = None
        self._prefix = prefix
        self._max_bytes = max_bytes
        # Appends are serialized: each one's offset is the pack's size when it starts.
        self._lock = asyncio.Lock()
        self._file: BinaryIO | None = None
        self._path = Path()
        self._key = ""
        self._size = 0
        self._count = 0
        self._storing: asyncio.Task[None] | None = None

    @property
    def packs(self) -> int:
        """How many packs were started (stored, being stored, or filling)."""
        return self._count

    async def append(self, path: Path) -> PackPosition:
        """Copy the file to the end of the current pack; where it starts."""
        async with self._lock:
            if self._file is None:
                await self._start()
            assert self._file is not None
            offset = self._size
            self._size += await asyncio.to_thread(_copy_to_end, path, self._file)
            position = PackPosition(self._key, offset)
            if self._size >= self._max_bytes:
                await self._seal()
            return position

    async def finish(self) -> None:
        """Store the pack being filled and wait until every pack is stored."""
        async with self._lock:
            if self._file is not None:
                await self._seal()
            await self._wait_for_store()

    async def close(self) -> None:
        """Wait for a store in flight (after a failure the caller deletes the packs, and a
        thread cannot be cancelled), then remove the pack files left on disk; harmless twice."""
        async with self._lock:
            if self._storing is not None:
                await asyncio.gather(self._storing, return_exceptions=True)
                self._storing = None
            if self._file is not None:
                await asyncio.to_thread(self._file.close)
                self._file = None
            if self._spool is not None:
                await asyncio.to_thread(self._spool.close)
                self._spool = None

    async def _start(self) -> None:
        if self._spool is None:
            self._spool = await asyncio.to_thread(Spool, self._spool_dir)
        self._path = self._spool.new_path(".pack")
        self._file = await asyncio.to_thread(self._path.open, "wb")
        self._key = f"{self._prefix}{self._count:04d}"
        self._size = 0
        self._count += 1

    async def _seal(self) -> None:
        assert self._file is not None
        await asyncio.to_thread(self._file.close)
        self._file = None
        await self._wait_for_store()  # the one before this: back-pressure on a slow store
        self._storing = asyncio.create_task(self._store(self._key, self._path))

    async def _wait_for_store(self) -> None:
        storing, self._storing = self._storing, None
        if storing is not None:
            await storing

    async def _store(self, key: str, path: Path) -> None:
        try:
            await self._objects.put_file(key, path, PACK_CONTENT_TYPE)
        finally:
            await asyncio.to_thread(path.unlink, missing_ok=True)


def _copy_to_end(path: Path, sink: BinaryIO) -> int:
    """Append the file; how many bytes it added."""
    start = sink.tell()
    with path.open("rb") as source:
        shutil.copyfileobj(source, sink, COPY_CHUNK)
    return sink.tell() - start


def instance_bytes(
    objects: ObjectStore, record: InstanceRecord, chunk_size: int = DEFAULT_CHUNK
) -> AsyncIterator[bytes]:
    """An instance's bytes, as stored: its range of a pack, or its own whole object."""
    if record.offset is None:
        return objects.stream(record.object_key, chunk_size)
    return objects.stream_range(record.object_key, record.offset, record.size_bytes, chunk_size)


async def fetch_instance(objects: ObjectStore, record: InstanceRecord, path: Path) -> None:
    """Write an instance's bytes to `path` (to parse or render it whole)."""
    sink = await asyncio.to_thread(path.open, "wb")
    try:
        async for chunk in instance_bytes(objects, record):
            await asyncio.to_thread(sink.write, chunk)
    finally:
        await asyncio.to_thread(sink.close)
