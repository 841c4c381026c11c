"""The FastAPI application every service starts from: error format, probes, who is asking, docs."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from shared.errors import ApiError, install_error_handlers
from shared.http_metrics import HttpMetricsMiddleware
from shared.probes import ReadinessCheck, probe_router
from shared.tracing import NO_NATIVE_TELEMETRY

log = logging.getLogger(__name__)

OPENAPI_URL = "/openapi.json"
DOCS_URL = "/docs"
DOCS_ASSETS_URL = "/docs/assets"
DOCS_OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
# Swagger UI as `make web-assets` installs it (npm `swagger-ui-dist`); the variable overrides.
SWAGGER_UI_DIR_VAR = "SOP_SWAGGER_UI_DIR"
SWAGGER_UI_DIR = (
    Path(__file__).resolve().parents[1] / "deploy" / "web" / "node_modules" / "swagger-ui-dist"
)
SWAGGER_UI_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")


def swagger_ui_dir() -> Path | None:
    """The folder holding Swagger UI's files, or None when they are not installed there."""
    folder = Path(os.environ.get(SWAGGER_UI_DIR_VAR) or SWAGGER_UI_DIR)
    if all((folder / name).is_file() for name in SWAGGER_UI_FILES):
        return folder
    log.warning("no Swagger UI in %s: /docs answers 503 until `make web-assets`", folder)
    return None


def install_offline_docs(app: FastAPI) -> None:
    """Serve `/docs` with Swagger UI's own files, so it works where no CDN can be reached."""
    folder = swagger_ui_dir()
    if folder is not None:
        app.mount(DOCS_ASSETS_URL, StaticFiles(directory=folder), name="docs-assets")

    # Public like /openapi.json, whose description is all the page shows; kept out of the schema.
    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        if folder is None:
            raise ApiError(
                503,
                "docs_assets_missing",
                "Swagger UI's files are not installed: run `make web-assets` and restart.",
            )
        root = str(request.scope.get("root_path", "")).rstrip("/")
        assets = f"{root}{DOCS_ASSETS_URL}"
        return get_swagger_ui_html(
            openapi_url=f"{root}{OPENAPI_URL}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon-32x32.png",
            oauth2_redirect_url=f"{root}{DOCS_OAUTH2_REDIRECT_URL}",
            init_oauth=app.swagger_ui_init_oauth,
            # The validator badge would send the spec's intranet address to swagger.io.
            swagger_ui_parameters={"validatorUrl": None, **(app.swagger_ui_parameters or {})},
        )

    @app.get(DOCS_OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()


def create_service_app(
    *, title: str, description: str, readiness: Mapping[str, ReadinessCheck]
) -> FastAPI:
    # FastAPI's own /docs and /redoc load their scripts from a CDN, blank on offline intranets.
    # ReDoc stays off: Swagger UI, served locally below, is the one docs page.
    app = FastAPI(
        title=title,
        description=description,
        version="0.1.0",
        openapi_url=OPENAPI_URL,
        docs_url=None,
        redoc_url=None,
        # FastAPI's own spans would record the path and query as sent (case-link tokens):
        # shared/tracing.py's middleware traces requests instead.
        telemetry=NO_NATIVE_TELEMETRY,
    )
    install_error_handlers(app)
    app.add_middleware(HttpMetricsMiddleware)
    app.include_router(probe_router(readiness))
    install_offline_docs(app)
    return app
