"""The web front door's application: pages, its own static files and the vendored viewer."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.web import admin, expert, family, public, staff
from services.web.app_headers import CSP, SECURITY_HEADERS
from services.web.backends import BackendError, Backends
from services.web.config import WebSettings
from services.web.session import Sessions
from services.web.web import Web, create_templates, problem_page
from shared.auth import TokenVerifier
from shared.http_metrics import HttpMetricsMiddleware
from shared.probes import probe_router
from shared.tracing import NO_NATIVE_TELEMETRY

STATIC = Path(__file__).parent / "static"
# The parts of the npm packages a page loads (never the whole node_modules folder).
VENDORED = {
    "dwv": "dwv/dist",
    "konva": "konva",
    "jszip": "jszip/dist",
    "magic-wand-tool": "magic-wand-tool/dist",
}


def create_app(settings: WebSettings, backends: Backends, verifier: TokenVerifier) -> FastAPI:
    app = FastAPI(
        title="web front door",
        description="The pages families, physicians, the intake team, experts and admins use.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        telemetry=NO_NATIVE_TELEMETRY,  # its spans would record links' tokens (shared/tracing)
    )
    sessions = Sessions(verifier, secret=settings.session_secret, secure=settings.production)
    app.state.web = Web(settings, backends, sessions, create_templates())

    async def services_answer() -> bool:
        await backends.call("GET", "intake", "/healthz", token=None)
        return True

    app.add_middleware(HttpMetricsMiddleware)
    app.include_router(probe_router({"intake": services_answer}))
    for module in (public, family, staff, expert, admin):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for name, folder in VENDORED.items():
        path = settings.assets_dir / folder
        if path.is_dir():
            app.mount(f"/vendor/{name}", StaticFiles(directory=path), name=f"vendor-{name}")

    # The family's page sends large files' parts straight to object storage.
    page_policy = CSP.replace(
        "connect-src 'self'", f"connect-src 'self' {settings.upload_origin_or_default}"
    )

    @app.middleware("http")
    async def _headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response: Response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        if response.headers.get("content-type", "").startswith("text/html"):
            response.headers.setdefault("content-security-policy", page_policy)
        return response

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "not_found", 403: "forbidden"}.get(exc.status_code, "other")
        return problem_page(request, BackendError(exc.status_code, code, ""))

    return app
