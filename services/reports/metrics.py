"""The reports service's own Prometheus metrics (served by the shared `/metrics`)."""

from __future__ import annotations

from prometheus_client import Gauge, Histogram

PDF_RENDER_QUEUE = Gauge(
    "sop_reports_pdf_render_queue_depth",
    "PDF renders asked for and not finished yet (rendering or waiting for a worker).",
)
PDF_RENDER_SECONDS = Histogram(
    "sop_reports_pdf_render_duration_seconds",
    "Time from asking for a PDF to having it, waiting for a worker included.",
    buckets=(0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0),
)
