"""Packs: one upload's DICOM instances appended into one object (or a few), read back by range.

An object per instance cost the object store one object, one metadata write and one fsync
each (about 2 CPU-s per 158 MB study in MinIO), so an ingest appends the instances it keeps to
a pack file on disk and stores it as one object, rolling to a next, larger pack (up to
`RECORDS_PACK_BYTES`). The index of byte ranges is the instance records themselves:
`object_key` names the pack, `offset` where the instance starts, `size_bytes` how long it is and
`sha256` what it must hash to. A record without `offset` (stored before packs, or a
de-identified copy) names an object that is the instance alone.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from services.records.store import InstanceRecord
from services.records.uploads import Spool
from shared.objectstore import DEFAULT_CHUNK, ObjectStore

PACK_CONTENT_TYPE = "application/octet-stream"  # many instances: no single DICOM media type
# Packs grow from this size, doubling up to the setting's: a STOW request of 15 MB stores its
# first packs while the rest arrives (only a small last pack is left when it ends), and a 1 GB
# CD is still about ten objects.
FIRST_PACK_BYTES = 4 * 1024 * 1024
COPY_CHUNK = 1024 * 1024


def pack_prefix(case_id: str, upload_id: str) -> str:
    """The folder of one ingest's packs: a failed ingest deletes it whole, erasure with the case."""
    return f"cases/{case_id}/packs/{upload_id}/"


@dataclass(frozen=True)
class PackPosition:
    key: str
    offset: int


@dataclass
class _Pack:
    key: str
    path: Path
    file: BinaryIO | None
    size: int = 0
    # Appended instances whose claim is not settled yet, and those the upload kept.
    pending: int = 0
    kept: int = 0
    settled: asyncio.Event = field(default_factory=asyncio.Event)


class PackWriter:
    """Appends files to the current pack file in its own spool directory; a pack that reaches
    its size (`first_bytes`, doubling up to `max_bytes`) is stored while the next one fills,
    and `finish` stores the last. At most one pack is being stored at a time, so disk use and
    the SDK's part buffers stay bounded on a 5 GB DVD. `close` must follow, whatever happened.

    An instance is appended before it is claimed, so its claim names its place and no second
    write to the index is needed; each append is then `settle`d, kept or not. The range of
    one not kept (a duplicate, a conflict) stays in the pack unreferenced, and a pack that
    keeps nothing (a request sent twice) is not stored at all."""

    def __init__(
        self,
        objects: ObjectStore,
        spool_dir: Path | None,
        prefix: str,
        max_bytes: int,
        *,
        first_bytes: int = FIRST_PACK_BYTES,
    ) -> None:
        self._objects = objects
        self._first_bytes = first_bytes
        self._spool_dir = spool_dir
        self._spool: Spool | None = None
        self._prefix = prefix
        self._max_bytes = max_bytes
        # Appends are serialized: each one's offset is the pack's size when it starts.
        self._lock = asyncio.Lock()
        self._filling: _Pack | None = None
        self._packs: dict[str, _Pack] = {}
        self._storing: asyncio.Task[None] | None = None

    @property
    def packs(self) -> int:
        """How many packs were started (stored, being stored, filling, or left out)."""
        return len(self._packs)

    async def append(self, path: Path) -> PackPosition:
        """Copy the file to the end of the current pack; where it starts."""
        async with self._lock:
            pack = self._filling or await self._start()
            assert pack.file is not None
            offset = pack.size
            pack.size += await asyncio.to_thread(_copy_to_end, path, pack.file)
            pack.pending += 1
            pack.settled.clear()
            if pack.size >= min(self._first_bytes << (len(self._packs) - 1), self._max_bytes):
                await self._seal()
            return PackPosition(pack.key, offset)

    def settle(self, position: PackPosition, *, kept: bool) -> None:
        """The claim of an appended instance is decided (call it in a `finally`: a pack is
        stored only once all of its instances are settled)."""
        pack = self._packs[position.key]
        pack.kept += kept
        pack.pending -= 1
        if not pack.pending:
            pack.settled.set()

    async def finish(self) -> None:
        """Store the pack being filled and wait until every pack is stored."""
        async with self._lock:
            if self._filling is not None:
                await self._seal()
            await self._wait_for_store()

    async def close(self) -> None:
        """Wait for a store in flight (after a failure the caller deletes the packs, and a
        thread cannot be cancelled), then remove the pack files left on disk; harmless twice."""
        async with self._lock:
            if self._storing is not None:
                await asyncio.gather(self._storing, return_exceptions=True)
                self._storing = None
            if self._filling is not None and self._filling.file is not None:
                await asyncio.to_thread(self._filling.file.close)
                self._filling = None
            if self._spool is not None:
                await asyncio.to_thread(self._spool.close)
                self._spool = None

    async def _start(self) -> _Pack:
        if self._spool is None:
            self._spool = await asyncio.to_thread(Spool, self._spool_dir)
        path = self._spool.new_path(".pack")
        key = f"{self._prefix}{len(self._packs):04d}"
        pack = _Pack(key, path, await asyncio.to_thread(path.open, "wb"))
        self._packs[key] = pack
        self._filling = pack
        return pack

    async def _seal(self) -> None:
        pack, self._filling = self._filling, None
        assert pack is not None and pack.file is not None
        await asyncio.to_thread(pack.file.close)
        pack.file = None
        if not pack.pending:
            pack.settled.set()
        await self._wait_for_store()  # the one before this: back-pressure on a slow store
        self._storing = asyncio.create_task(self._store(pack))

    async def _wait_for_store(self) -> None:
        storing, self._storing = self._storing, None
        if storing is not None:
            await storing

    async def _store(self, pack: _Pack) -> None:
        try:
            await pack.settled.wait()
            if pack.kept:
                # In the background of the next pack's filling: parts one at a time, on the
                # store's own threads, so records' RSS stays flat on a 1 GB CD.
                await self._objects.put_file(
                    pack.key, pack.path, PACK_CONTENT_TYPE, background=True
                )
        finally:
            await asyncio.to_thread(pack.path.unlink, missing_ok=True)


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
