"""The records service's own Prometheus metrics (served by the shared `/metrics`).

`channel` is how files arrived: `upload` (the checklist form), `stow` (STOW-RS) or `cstore`
(a PACS's C-STORE); `reason` is the refusal's error code (a fixed set), `conflict` (an
instance differs from the copy kept), `instances_refused` (STOW-RS refused the request's
instances), or `error`."""

from __future__ import annotations

from prometheus_client import Counter

from shared.errors import ApiError

INGESTED_INSTANCES = Counter(
    "sop_records_ingested_instances_total", "DICOM instances stored, by channel.", ["channel"]
)
INGESTED_DOCUMENTS = Counter(
    "sop_records_ingested_documents_total",
    "Documents (PDF, images) stored, by channel.",
    ["channel"],
)
INGESTED_BYTES = Counter(
    "sop_records_ingested_bytes_total",
    "Bytes of instances and documents stored, by channel.",
    ["channel"],
)
INGEST_FAILURES = Counter(
    "sop_records_ingest_failures_total",
    "Uploads, STOW-RS requests and C-STOREs that stored nothing, by channel and reason.",
    ["channel", "reason"],
)


def count_failure(channel: str, exc: BaseException) -> None:
    INGEST_FAILURES.labels(channel, exc.code if isinstance(exc, ApiError) else "error").inc()
