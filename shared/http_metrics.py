"""Request counts and durations per route for every service's `/metrics`.

Plain ASGI rather than Starlette's BaseHTTPMiddleware, which would buffer the board's
event streams. The route label is the matched route's template (`/cases/{case_id}`), so case
ids never reach a label; a path no route matched is `unmatched`."""

from __future__ import annotations

import time

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.metrics import HTTP_REQUEST_SECONDS, HTTP_REQUESTS

# Probes and scrapes would drown the rates an operator looks at.
UNCOUNTED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in UNCOUNTED_PATHS:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees if the app raises before answering

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            method, route = scope.get("method", "GET"), _route_template(scope)
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_REQUEST_SECONDS.labels(method, route).observe(time.perf_counter() - started)


def _route_template(scope: Scope) -> str:
    # The router sets scope["route"] when a route matched; mounts (static files) only
    # prefix the path, so the mount's own path stands for them.
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    app = scope.get("app")
    for candidate in getattr(getattr(app, "router", None), "routes", []):
        match, _ = candidate.matches(scope)
        if match == Match.FULL:
            return str(getattr(candidate, "path", "unmatched"))
    return "unmatched"
