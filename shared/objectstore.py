"""Storing files as objects: the port, its MinIO (S3) adapter and an in-memory fake.

The MinIO SDK is synchronous, so every call runs in a worker thread; objects are written from
and read into files or chunk streams, never held whole in memory.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from minio import Minio
from minio.error import S3Error
from minio.sseconfig import Rule, SSEConfig

from shared.settings import StackSettings

DEFAULT_CHUNK = 1024 * 1024
BACKGROUND_THREADS = 2
_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchObject", "NoSuchBucket"})


class ObjectNotFound(Exception):
    """The key names no object (the message is the key, which never carries PHI by design)."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size_bytes: int
    content_type: str


class ObjectStore(Protocol):
    """One bucket of objects addressed by key."""

    @property
    def bucket(self) -> str: ...

    async def ensure_bucket(self) -> None:
        """Create the bucket unless it exists; safe to call from every process at start."""

    async def put_file(
        self, key: str, path: Path, content_type: str, *, background: bool = False
    ) -> ObjectInfo:
        """Store the file at `path` under `key`, replacing any object there. A large file goes
        in parts, each held in memory (5 MiB or more); `background` (a store running behind
        other work) sends them one at a time, on few threads, to hold less memory."""

    def stream(self, key: str, chunk_size: int = DEFAULT_CHUNK) -> AsyncIterator[bytes]:
        """The object's bytes in chunks; raises ObjectNotFound before the first chunk."""

    def stream_range(
        self, key: str, offset: int, length: int, chunk_size: int = DEFAULT_CHUNK
    ) -> AsyncIterator[bytes]:
        """`length` bytes of the object from `offset` (one HTTP range request), in chunks, so
        one of many files packed into an object is read alone; raises ObjectNotFound."""

    async def get_file(self, key: str, path: Path) -> ObjectInfo:
        """Write the object to `path`."""

    async def stat(self, key: str) -> ObjectInfo:
        """Size and content type; raises ObjectNotFound."""

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None:
        """Remove the object; removing a missing object is not an error."""

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object whose key starts with `prefix` (a case's folder, on erasure);
        returns how many were removed."""


class MinioObjectStore:
    """The port on MinIO or any S3-compatible server."""

    def __init__(self, client: Minio, bucket: str, *, encrypt: bool = True) -> None:
        self._client = client
        self._bucket = bucket
        self._encrypt = encrypt
        # Background stores' own threads: glibc gives each thread that allocates a part buffer
        # an arena that keeps it (+10 MiB of RSS per put on another worker thread, measured
        # with 256 MiB files), so few threads bound what they hold.
        self._background = ThreadPoolExecutor(BACKGROUND_THREADS, "object-store-background")

    @classmethod
    def from_settings(cls, stack: StackSettings, service: str) -> MinioObjectStore:
        client = Minio(
            stack.s3_endpoint,
            access_key=stack.s3_access_key.get_secret_value(),
            secret_key=stack.s3_secret_key.get_secret_value(),
            secure=stack.s3_secure,
        )
        return cls(client, stack.bucket(service), encrypt=stack.s3_encryption == "sse-s3")

    @property
    def bucket(self) -> str:
        return self._bucket

    @property
    def client(self) -> Minio:
        """The SDK client, for administration the port does not cover (e.g. test clean-up)."""
        return self._client

    async def ensure_bucket(self) -> None:
        def ensure() -> None:
            if not self._client.bucket_exists(self._bucket):
                try:
                    self._client.make_bucket(self._bucket)
                except S3Error as exc:
                    # Another process created it between the check and the call.
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
            if self._encrypt:
                # Children's records are encrypted at rest: every new object, by default.
                self._client.set_bucket_encryption(self._bucket, SSEConfig(Rule.new_sse_s3_rule()))

        await asyncio.to_thread(ensure)

    async def put_file(
        self, key: str, path: Path, content_type: str, *, background: bool = False
    ) -> ObjectInfo:
        def put() -> int:
            self._client.fput_object(
                self._bucket,
                key,
                str(path),
                content_type=content_type,
                num_parallel_uploads=1 if background else 3,  # 3: the SDK's default
            )
            return path.stat().st_size

        if not background:
            return ObjectInfo(key, await asyncio.to_thread(put), content_type)
        loop = asyncio.get_running_loop()
        return ObjectInfo(key, await loop.run_in_executor(self._background, put), content_type)

    async def stream(self, key: str, chunk_size: int = DEFAULT_CHUNK) -> AsyncIterator[bytes]:
        async for chunk in self._stream(key, 0, 0, chunk_size):
            yield chunk

    async def stream_range(
        self, key: str, offset: int, length: int, chunk_size: int = DEFAULT_CHUNK
    ) -> AsyncIterator[bytes]:
        if length <= 0:  # the SDK reads a length of 0 as "to the end"
            return
        async for chunk in self._stream(key, offset, length, chunk_size):
            yield chunk

    async def _stream(
        self, key: str, offset: int, length: int, chunk_size: int
    ) -> AsyncIterator[bytes]:
        get = functools.partial(self._client.get_object, offset=offset, length=length)
        response = await self._call(get, self._bucket, key)
        chunks = response.stream(chunk_size)
        try:
            while True:
                chunk = await asyncio.to_thread(next, chunks, None)
                if chunk is None:
                    return
                yield chunk
        finally:
            response.close()
            response.release_conn()

    async def get_file(self, key: str, path: Path) -> ObjectInfo:
        # Streamed into the file: `fget_object` would also work but renames across directories.
        info = await self.stat(key)
        sink = await asyncio.to_thread(path.open, "wb")
        try:
            async for chunk in self.stream(key):
                await asyncio.to_thread(sink.write, chunk)
        finally:
            sink.close()
        return info

    async def stat(self, key: str) -> ObjectInfo:
        found = await self._call(self._client.stat_object, self._bucket, key)
        return ObjectInfo(key, int(found.size), str(found.content_type))

    async def exists(self, key: str) -> bool:
        try:
            await self.stat(key)
        except ObjectNotFound:
            return False
        return True

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._client.remove_object, self._bucket, key)

    async def delete_prefix(self, prefix: str) -> int:
        def remove_all() -> int:
            listed = self._client.list_objects(self._bucket, prefix=prefix, recursive=True)
            keys = [o.object_name for o in listed if o.object_name is not None]
            for key in keys:
                self._client.remove_object(self._bucket, key)
            return len(keys)

        return await asyncio.to_thread(remove_all)

    async def _call(self, function: Any, *args: Any) -> Any:
        try:
            return await asyncio.to_thread(function, *args)
        except S3Error as exc:
            if exc.code in _MISSING_CODES:
                raise ObjectNotFound(args[-1]) from None
            raise


class InMemoryObjectStore:
    """Fake for unit tests: objects live in a dict; same behaviour as the real adapter."""

    def __init__(self, bucket: str = "fake") -> None:
        self._bucket = bucket
        self._created = False
        self.objects: dict[str, tuple[bytes, str]] = {}

    @property
    def bucket(self) -> str:
        return self._bucket

    async def ensure_bucket(self) -> None:
        self._created = True

    async def put_file(
        self, key: str, path: Path, content_type: str, *, background: bool = False
    ) -> ObjectInfo:
        data = await asyncio.to_thread(path.read_bytes)
        self.objects[key] = (data, content_type)
        return ObjectInfo(key, len(data), content_type)

    async def stream(self, key: str, chunk_size: int = DEFAULT_CHUNK) -> AsyncIterator[bytes]:
        data, _ = self._get(key)
        for start in range(0, len(data), chunk_size):
            yield data[start : start + chunk_size]

    async def stream_range(
        self, key: str, offset: int, length: int, chunk_size: int = DEFAULT_CHUNK
    ) -> AsyncIterator[bytes]:
        data, _ = self._get(key)
        end = min(offset + length, len(data))  # as S3 answers a range past the end
        for start in range(offset, end, chunk_size):
            yield data[start : min(start + chunk_size, end)]

    async def get_file(self, key: str, path: Path) -> ObjectInfo:
        info = await self.stat(key)
        await asyncio.to_thread(path.write_bytes, self._get(key)[0])
        return info

    async def stat(self, key: str) -> ObjectInfo:
        data, content_type = self._get(key)
        return ObjectInfo(key, len(data), content_type)

    async def exists(self, key: str) -> bool:
        return key in self.objects

    async def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    async def delete_prefix(self, prefix: str) -> int:
        keys = [k for k in self.objects if k.startswith(prefix)]
        for key in keys:
            del self.objects[key]
        return len(keys)

    def _get(self, key: str) -> tuple[bytes, str]:
        if key not in self.objects:
            raise ObjectNotFound(key)
        return self.objects[key]
