"""One contract for the object store port, run against the in-memory fake and real MinIO."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.objectstore import InMemoryObjectStore, MinioObjectStore, ObjectNotFound, ObjectStore
from shared.settings import StackSettings


class ObjectStoreContract:
    """Subclasses provide `store`: an ObjectStore on a fresh, empty bucket."""

    async def test_a_stored_file_streams_back_byte_identical_in_chunks(
        self, store: ObjectStore, tmp_path: Path
    ) -> None:
        source = tmp_path / "scan.dcm"
        source.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
        info = await store.put_file("cases/c1/a.dcm", source, "application/dicom")
        assert (info.key, info.size_bytes) == ("cases/c1/a.dcm", source.stat().st_size)

        digest, chunks = hashlib.sha256(), 0
        async for chunk in store.stream("cases/c1/a.dcm", chunk_size=1024 * 1024):
            assert len(chunk) <= 1024 * 1024
            digest.update(chunk)
            chunks += 1
        assert digest.hexdigest() == hashlib.sha256(source.read_bytes()).hexdigest()
        assert chunks >= 4

    async def test_a_range_streams_back_only_its_bytes(
        self, store: ObjectStore, tmp_path: Path
    ) -> None:
        source = tmp_path / "pack"
        data = os.urandom(2 * 1024 * 1024 + 5)
        source.write_bytes(data)
        await store.put_file("cases/c1/packs/u1/0000", source, "application/octet-stream")
        for offset, length in ((0, 1), (17, 1024 * 1024 + 3), (len(data) - 9, 9), (5, 0)):
            chunks = [
                c async for c in store.stream_range("cases/c1/packs/u1/0000", offset, length, 4096)
            ]
            assert all(len(c) <= 4096 for c in chunks)
            assert b"".join(chunks) == data[offset : offset + length], (offset, length)
        with pytest.raises(ObjectNotFound):
            async for _ in store.stream_range("nothing/here", 0, 10):
                pass

    async def test_stat_exists_and_get_file(self, store: ObjectStore, tmp_path: Path) -> None:
        source = tmp_path / "report.pdf"
        source.write_bytes(b"%PDF-1.7 tiny")
        await store.put_file("docs/r.pdf", source, "application/pdf")
        info = await store.stat("docs/r.pdf")
        assert (info.size_bytes, info.content_type) == (13, "application/pdf")
        assert await store.exists("docs/r.pdf")
        assert not await store.exists("docs/other.pdf")
        copy = tmp_path / "copy.pdf"
        await store.get_file("docs/r.pdf", copy)
        assert copy.read_bytes() == b"%PDF-1.7 tiny"

    async def test_put_replaces_and_delete_is_idempotent(
        self, store: ObjectStore, tmp_path: Path
    ) -> None:
        first, second = tmp_path / "1.txt", tmp_path / "2.txt"
        first.write_bytes(b"first")
        second.write_bytes(b"second version")
        await store.put_file("k", first, "text/plain")
        await store.put_file("k", second, "text/plain")
        assert (await store.stat("k")).size_bytes == len(b"second version")
        await store.delete("k")
        await store.delete("k")
        assert not await store.exists("k")

    async def test_delete_prefix_removes_one_folder_only(
        self, store: ObjectStore, tmp_path: Path
    ) -> None:
        source = tmp_path / "x.txt"
        source.write_bytes(b"x")
        for key in ("cases/c1/a", "cases/c1/deep/b", "cases/c10/a", "cases/c2/a"):
            await store.put_file(key, source, "text/plain")
        assert await store.delete_prefix("cases/c1/") == 2
        assert await store.delete_prefix("cases/c1/") == 0  # erasing twice is harmless
        assert not await store.exists("cases/c1/deep/b")
        assert await store.exists("cases/c10/a") and await store.exists("cases/c2/a")

    async def test_missing_objects_raise_object_not_found(self, store: ObjectStore) -> None:
        with pytest.raises(ObjectNotFound):
            await store.stat("nothing/here")
        with pytest.raises(ObjectNotFound):
            async for _ in store.stream("nothing/here"):
                pass

    async def test_ensure_bucket_is_idempotent(self, store: ObjectStore) -> None:
        await asyncio.gather(store.ensure_bucket(), store.ensure_bucket())
        await store.ensure_bucket()


class TestInMemoryObjectStore(ObjectStoreContract):
    @pytest.fixture
    async def store(self) -> InMemoryObjectStore:
        fake = InMemoryObjectStore()
        await fake.ensure_bucket()
        return fake


@pytest.mark.real
class TestMinioObjectStore(ObjectStoreContract):
    @pytest.fixture
    async def store(self, stack: StackSettings) -> AsyncIterator[MinioObjectStore]:
        real = MinioObjectStore.from_settings(stack, "records")
        await real.ensure_bucket()
        yield real
        await remove_bucket(real)

    async def test_objects_are_encrypted_at_rest(
        self, store: MinioObjectStore, tmp_path: Path
    ) -> None:
        source = tmp_path / "report.pdf"
        source.write_bytes(b"%PDF-1.7 private")
        await store.put_file("c1/report.pdf", source, "application/pdf")
        found = store.client.stat_object(store.bucket, "c1/report.pdf")
        assert found.metadata["x-amz-server-side-encryption"] == "AES256"


async def remove_bucket(store: MinioObjectStore) -> None:
    """Test clean-up: delete every object, then the bucket itself."""
    client = store.client

    def remove() -> None:
        for found in client.list_objects(store.bucket, recursive=True):
            client.remove_object(store.bucket, found.object_name)
        client.remove_bucket(store.bucket)

    await asyncio.to_thread(remove)
