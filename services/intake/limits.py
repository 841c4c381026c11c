"""Limits on the public routes: request body size (before any parsing) and submissions per
client address. Both answer before the request reaches a handler."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import error_body

ErrorBody = Callable[[int], dict[str, Any]]


def too_large(limit: int) -> dict[str, Any]:
    return error_body("too_large", f"the request body is larger than {limit} bytes")


class BodySizeLimit:
    """ASGI middleware: refuse (413) a body above the limit of its path (or `default`),
    counting what arrives (a missing or false Content-Length does not get past it)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        default: int,
        limits: Mapping[str, int],
        bodies: Mapping[str, ErrorBody] | None = None,
    ) -> None:
        self.app = app
        self.default = default
        self.limits = dict(limits)
        self.bodies = dict(bodies or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        limit = self.limits.get(path, self.default)
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, path, limit)
            return
        # Small limits: read the body here, then hand it on as one message.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(send, path, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, path: str, limit: int) -> None:
        render = self.bodies.get(path, too_large)
        content = orjson.dumps(render(limit))
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": content})


class RateLimiter:
    """At most `per_minute` requests per key in any 60-second window (in this process)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}

    def check(self, key: str) -> int | None:
        """None if allowed (and counted); else the seconds until a request would be."""
        now = self._clock()
        window = self._seen.setdefault(key, deque())
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= self.per_minute:
            return max(1, math.ceil(window[0] + 60 - now))
        window.append(now)
        if len(self._seen) > 10_000:  # forget idle clients so memory stays bounded
            for idle in [k for k, w in self._seen.items() if not w or w[-1] <= now - 60]:
                del self._seen[idle]
        return None
