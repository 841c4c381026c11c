"""The FastAPI application every service starts from: error format, probes, who is asking."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI

from shared.errors import install_error_handlers
from shared.probes import ReadinessCheck, probe_router


def create_service_app(
    *, title: str, description: str, readiness: Mapping[str, ReadinessCheck]
) -> FastAPI:
    app = FastAPI(title=title, description=description, version="0.1.0")
    install_error_handlers(app)
    app.include_router(probe_router(readiness))
    return app
