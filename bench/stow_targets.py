"""The three ways a study goes in: records STOW-RS, Orthanc STOW-RS, raw MinIO PUTs.

STOW requests carry batches of instances as a PACS sends them, from `clients` concurrent
senders; raw PUTs send one object per instance from as many threads.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
from minio import Minio
from minio.deleteobjects import DeleteObject

from bench.harness import ORGANIZATION, Platform

BOUNDARY = "bench-stow-boundary"
STOW_TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'


def stow_body(parts: list[bytes]) -> bytes:
    head = f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
    return b"".join(head + part + b"\r\n" for part in parts) + f"--{BOUNDARY}--\r\n".encode()


def batches(parts: list[bytes], size: int) -> list[list[bytes]]:
    return [parts[i : i + size] for i in range(0, len(parts), size)]


async def post_all(
    http: httpx.AsyncClient,
    url: str,
    bodies: list[tuple[bytes, int]],
    headers: dict[str, str],
    clients: int,
    check: Callable[[httpx.Response, int], None],
) -> int:
    """POST every body with `clients` concurrent senders; returns how many 503s were retried."""
    pending = list(range(len(bodies)))
    retries = 0

    async def sender() -> None:
        nonlocal retries
        while pending:
            body, count = bodies[pending.pop(0)]
            while True:
                response = await http.post(url, content=body, headers=headers)
                if response.status_code == 503:  # records: the case was busy; a PACS retries
                    retries += 1
                    await asyncio.sleep(float(response.headers.get("retry-after", "0.2")) / 5)
                    continue
                check(response, count)
                break

    await asyncio.gather(*(sender() for _ in range(clients)))
    return retries


def check_records(response: httpx.Response, count: int) -> None:
    if response.status_code != 200:
        raise RuntimeError(f"records STOW answered {response.status_code}: {response.text[:300]}")
    stored = response.json().get("00081199", {}).get("Value", [])
    if len(stored) != count:
        raise RuntimeError(f"records STOW stored {len(stored)} of {count} instances")


def check_orthanc(response: httpx.Response, count: int) -> None:
    if response.status_code != 200:
        raise RuntimeError(f"Orthanc STOW answered {response.status_code}: {response.text[:300]}")
    body = response.json()
    failed = body.get("00081198", {}).get("Value", [])
    stored = body.get("00081199", {}).get("Value", [])
    if failed or len(stored) != count:
        raise RuntimeError(f"Orthanc STOW stored {len(stored)} of {count}, {len(failed)} failed")


def put_all(client: Minio, bucket: str, prefix: str, parts: list[bytes], clients: int) -> None:
    def put(index: int) -> None:
        data = parts[index]
        client.put_object(
            bucket, f"{prefix}/{index:05d}", io.BytesIO(data), len(data), "application/dicom"
        )

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(put, range(len(parts))))


def remove_bucket(client: Minio, bucket: str) -> None:
    """Delete the raw-PUT objects (on a reused stack they would stay otherwise)."""
    names = [o.object_name for o in client.list_objects(bucket, recursive=True)]
    for error in client.remove_objects(bucket, (DeleteObject(n) for n in names if n)):
        raise RuntimeError(f"could not delete {error.name}: {error.message}")
    client.remove_bucket(bucket)


class Targets:
    """The three ways in, each a coroutine taking the same instances."""

    def __init__(
        self, platform: Platform, records_url: str, orthanc_url: str, minio: Minio, bucket: str
    ) -> None:
        self._platform = platform
        self._records_url = records_url
        self._orthanc_url = orthanc_url
        self._minio = minio
        self._bucket = bucket
        self._http = httpx.AsyncClient(trust_env=False, timeout=600)
        self._puts = 0

    async def close(self) -> None:
        await self._http.aclose()

    async def send(
        self, target: str, parts: list[bytes], batch: int, clients: int, case_id: str
    ) -> int:
        bodies = [(stow_body(b), len(b)) for b in batches(parts, batch)]
        if target == "records":
            headers = {
                **self._platform.headers("hospital-system", organization=ORGANIZATION),
                "Content-Type": STOW_TYPE,
                "Accept": "application/dicom+json",
            }
            url = f"{self._records_url}/dicomweb/studies?case_id={case_id}"
            return await post_all(self._http, url, bodies, headers, clients, check_records)
        if target == "orthanc":
            headers = {"Content-Type": STOW_TYPE, "Accept": "application/dicom+json"}
            url = f"{self._orthanc_url}/dicom-web/studies"
            return await post_all(self._http, url, bodies, headers, clients, check_orthanc)
        self._puts += 1
        prefix = f"run-{self._puts}"
        await asyncio.to_thread(put_all, self._minio, self._bucket, prefix, parts, clients)
        return 0
