"""Packs of instances: appended on disk, stored as few objects, each instance read back by its
byte range, byte-identical; records from before packs (one object each) read whole."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from services.records.packs import (
    PackPosition,
    PackWriter,
    fetch_instance,
    instance_bytes,
    pack_prefix,
)
from services.records.store import InstanceRecord
from shared.objectstore import InMemoryObjectStore, ObjectInfo

PREFIX = pack_prefix("case-1", "upload-1")


def record(data: bytes, object_key: str, offset: int | None, n: int = 1) -> InstanceRecord:
    return InstanceRecord(
        case_id="case-1",
        sop_instance_uid=f"1.2.3.{n}",
        sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
        study_instance_uid="1.2.3",
        series_instance_uid="1.2.3.0",
        transfer_syntax_uid="1.2.840.10008.1.2.1",
        modality="CT",
        instance_number=n,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        object_key=object_key,
        offset=offset,
    )


async def kept(writer: PackWriter, path: Path) -> PackPosition:
    """Append a file whose claim the upload wins, as ingest does."""
    at = await writer.append(path)
    writer.settle(at, kept=True)
    return at


def spooled(directory: Path) -> list[Path]:
    """The pack writer's spool directories still on disk."""
    return list(directory.glob("records-*"))


async def read(objects: InMemoryObjectStore, found: InstanceRecord, chunk: int = 7) -> bytes:
    return b"".join([c async for c in instance_bytes(objects, found, chunk_size=chunk)])


def files(tmp_path: Path, sizes: list[int]) -> list[tuple[Path, bytes]]:
    made = []
    for n, size in enumerate(sizes):
        path = tmp_path / f"{n}.dcm"
        data = os.urandom(size)
        path.write_bytes(data)
        made.append((path, data))
    return made


async def test_instances_of_one_ingest_share_one_object_and_read_back_by_range(
    tmp_path: Path,
) -> None:
    objects = InMemoryObjectStore()
    writer = PackWriter(objects, tmp_path, PREFIX, max_bytes=1024 * 1024)
    sent = files(tmp_path, [100, 1, 5000, 333])
    written = []
    for n, (path, data) in enumerate(sent):
        at = await kept(writer, path)
        written.append(record(data, at.key, at.offset, n))
    await writer.finish()
    await writer.close()

    assert list(objects.objects) == [f"{PREFIX}0000"]
    assert [r.offset for r in written] == [0, 100, 101, 5101]
    for (_, data), found in zip(sent, written, strict=True):
        got = await read(objects, found)
        assert got == data
        assert hashlib.sha256(got).hexdigest() == found.sha256
    assert not spooled(tmp_path)  # the pack files left the disk


async def test_a_pack_past_its_size_is_stored_and_the_next_one_started(tmp_path: Path) -> None:
    objects = InMemoryObjectStore()
    writer = PackWriter(objects, tmp_path, PREFIX, max_bytes=250)
    sent = files(tmp_path, [100, 100, 100, 100, 100])
    positions = [await kept(writer, path) for path, _ in sent]
    await writer.finish()
    await writer.close()

    # A pack is sealed once it reaches the size: 300 bytes, 200 bytes.
    assert sorted(objects.objects) == [f"{PREFIX}0000", f"{PREFIX}0001"]
    assert [(p.key[-4:], p.offset) for p in positions] == [
        ("0000", 0), ("0000", 100), ("0000", 200), ("0001", 0), ("0001", 100)
    ]  # fmt: skip
    assert writer.packs == 2
    for n, ((_, data), at) in enumerate(zip(sent, positions, strict=True)):
        assert await read(objects, record(data, at.key, at.offset, n)) == data


async def test_concurrent_appends_get_distinct_ranges(tmp_path: Path) -> None:
    objects = InMemoryObjectStore()
    writer = PackWriter(objects, tmp_path, PREFIX, max_bytes=10_000)
    sent = files(tmp_path, [size for size in range(1, 40)])
    positions = await asyncio.gather(*(kept(writer, path) for path, _ in sent))
    await writer.finish()
    await writer.close()
    for n, ((_, data), at) in enumerate(zip(sent, positions, strict=True)):
        assert await read(objects, record(data, at.key, at.offset, n)) == data


async def test_an_instance_stored_before_packs_is_read_as_its_whole_object(
    tmp_path: Path,
) -> None:
    objects = InMemoryObjectStore()
    data = os.urandom(2000)
    source = tmp_path / "old.dcm"
    source.write_bytes(data)
    old_key = "cases/case-1/dicom/1.2.3/1.2.3.0/1.2.3.1"
    await objects.put_file(old_key, source, "application/dicom")
    # As the store reads a document written before packs: no offset field.
    old = InstanceRecord.from_document(
        {
            name: value
            for name, value in record(data, old_key, None).__dict__.items()
            if name != "offset"
        }
    )
    assert old.offset is None
    assert await read(objects, old) == data
    copy = tmp_path / "copy.dcm"
    await fetch_instance(objects, old, copy)
    assert copy.read_bytes() == data


async def test_fetch_instance_writes_only_its_range(tmp_path: Path) -> None:
    objects = InMemoryObjectStore()
    writer = PackWriter(objects, tmp_path, PREFIX, max_bytes=1024 * 1024)
    sent = files(tmp_path, [10, 20, 30])
    positions = [await kept(writer, path) for path, _ in sent]
    await writer.finish()
    await writer.close()
    target = tmp_path / "middle.dcm"
    await fetch_instance(objects, record(sent[1][1], positions[1].key, positions[1].offset), target)
    assert target.read_bytes() == sent[1][1]


class FailingStore(InMemoryObjectStore):
    """Refuses to store anything, as an object store that is down."""

    async def put_file(
        self, key: str, path: Path, content_type: str, *, background: bool = False
    ) -> ObjectInfo:
        await asyncio.sleep(0)
        raise ConnectionError("object store unavailable")


async def test_a_failed_store_fails_the_ingest_and_close_leaves_nothing_on_disk(
    tmp_path: Path,
) -> None:
    writer = PackWriter(FailingStore(), tmp_path, PREFIX, max_bytes=50)
    sent = files(tmp_path, [100, 100])
    await kept(writer, sent[0][0])  # sealed: its store starts and fails in the background
    with pytest.raises(ConnectionError):
        await kept(writer, sent[1][0])  # sealing the next waits for that store
        await writer.finish()
    await writer.close()
    await writer.close()  # harmless twice
    assert not spooled(tmp_path)


async def test_a_pack_that_keeps_nothing_is_not_stored(tmp_path: Path) -> None:
    """A request sent twice: every instance is a duplicate, so its packs are left out; a pack
    keeping some keeps the others' ranges unreferenced, and is stored whole."""
    objects = InMemoryObjectStore()
    writer = PackWriter(objects, tmp_path, PREFIX, max_bytes=250)
    sent = files(tmp_path, [100, 100, 100, 100, 100])
    positions = [await writer.append(path) for path, _ in sent]
    for n, at in enumerate(positions):
        writer.settle(at, kept=n == 4)  # settled after sealing, as slow claims are
    await writer.finish()
    await writer.close()
    assert list(objects.objects) == [f"{PREFIX}0001"]
    assert (
        await read(objects, record(sent[4][1], positions[4].key, positions[4].offset))
        == (sent[4][1])
    )
    assert not spooled(tmp_path)


async def test_packs_grow_from_the_first_size_to_the_largest(tmp_path: Path) -> None:
    objects = InMemoryObjectStore()
    writer = PackWriter(objects, tmp_path, PREFIX, max_bytes=500, first_bytes=100)
    sent = files(tmp_path, [60] * 30)
    positions = [await kept(writer, path) for path, _ in sent]
    await writer.finish()
    await writer.close()
    sizes = [len(objects.objects[key][0]) for key in sorted(objects.objects)]
    # Sealed at 100, 200, 400, then 500 bytes (the largest), and what is left.
    assert sizes == [120, 240, 420, 540, 480]
    for n, ((_, data), at) in enumerate(zip(sent, positions, strict=True)):
        assert await read(objects, record(data, at.key, at.offset, n)) == data
