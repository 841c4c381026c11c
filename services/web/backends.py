"""The services' public HTTP APIs, called with the person's own token.

The web front door owns no case data: every page is a few calls to the services that own it,
and each service checks who is asking, exactly as it does for any other client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as default
from typing import Any, Literal

import httpx

from services.web.config import WebSettings
from shared.tracing import current_trace_fields

Service = Literal["intake", "records", "assignment", "reports", "notify"]
Params = Mapping[str, str | int | list[str]]


@dataclass
class BackendError(Exception):
    """A service refused or failed: its status, machine code and the field it named."""

    status: int
    code: str
    message: str
    field: str | None = None
    problems: list[dict[str, str]] = default(default_factory=list)

    def __str__(self) -> str:
        return f"{self.status} {self.code}"

    @property
    def fields(self) -> dict[str, str]:
        """Field path -> machine code, for the form that sent it."""
        named = {p["field"]: p.get("code", "invalid") for p in self.problems if p.get("field")}
        if self.field and self.field not in named:
            named[self.field] = self.code
        return named


@dataclass
class Download:
    """A streamed answer: pass `chunks` on, then `close()` (its connection returns to the pool)."""

    status: int
    headers: dict[str, str]
    chunks: AsyncIterator[bytes]
    close: Callable[[], Awaitable[None]]


class Backends:
    def __init__(self, settings: WebSettings, transport: httpx.AsyncBaseTransport | None = None):
        self._urls: dict[Service, str] = {
            "intake": settings.intake_url,
            "records": settings.records_url,
            "assignment": settings.assignment_url,
            "reports": settings.reports_url,
            "notify": settings.notify_url,
        }
        self._client = httpx.AsyncClient(
            transport=transport,
            timeout=settings.backend_timeout_s,
            follow_redirects=False,
            # The services' spans continue the page's trace (the family form → intake).
            event_hooks={"request": [_continue_trace]},
        )
        self._upload_timeout = httpx.Timeout(settings.upload_timeout_s, connect=10)

    async def close(self) -> None:
        await self._client.aclose()

    def url(self, service: Service, path: str) -> str:
        return self._urls[service].rstrip("/") + path

    async def call(
        self,
        method: str,
        service: Service,
        path: str,
        *,
        token: str | None,
        json: Any = None,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """The decoded JSON answer (None for 204); a 4xx or 5xx raises BackendError."""
        sent = {**_bearer(token), **(headers or {})}
        try:
            response = await self._client.request(
                method, self.url(service, path), json=json, params=params, headers=sent
            )
        except httpx.TransportError:
            raise BackendError(503, "service_unreachable", f"the {service} service") from None
        if response.status_code >= 400:
            raise _error_of(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def text(self, service: Service, path: str, *, token: str) -> str:
        response = await self._client.get(self.url(service, path), headers=_bearer(token))
        if response.status_code >= 400:
            raise _error_of(response)
        return response.text

    async def upload(
        self,
        service: Service,
        path: str,
        *,
        token: str,
        body: AsyncIterator[bytes],
        content_type: str,
        content_length: str | None,
    ) -> tuple[int, Any]:
        """Pass a browser's multipart upload through as it arrives (never held in memory)."""
        headers = {**_bearer(token), "content-type": content_type}
        if content_length:
            headers["content-length"] = content_length
        try:
            response = await self._client.post(
                self.url(service, path), content=body, headers=headers, timeout=self._upload_timeout
            )
        except httpx.TransportError:
            raise BackendError(503, "service_unreachable", f"the {service} service") from None
        if response.status_code >= 400:
            raise _error_of(response)
        return response.status_code, response.json()

    async def download(self, service: Service, path: str, *, token: str) -> Download:
        """A streamed GET (documents, report PDFs, DICOM instances) for the page to pass on."""
        request = self._client.build_request("GET", self.url(service, path), headers=_bearer(token))
        response = await self._client.send(request, stream=True)
        if response.status_code >= 400:
            await response.aread()
            await response.aclose()
            raise _error_of(response)
        return Download(
            status=response.status_code,
            headers=dict(response.headers),
            chunks=response.aiter_raw(),
            close=response.aclose,
        )


def _bearer(token: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"} if token else {}


def _error_of(response: httpx.Response) -> BackendError:
    try:
        error = response.json().get("error", {})
    except ValueError:
        error = {}
    if not isinstance(error, dict):
        error = {}
    return BackendError(
        status=response.status_code,
        code=str(error.get("code") or f"http_{response.status_code}"),
        message=str(error.get("message") or ""),
        field=error.get("field"),
        problems=list(error.get("problems") or []),
    )


async def _continue_trace(request: httpx.Request) -> None:
    request.headers.update(current_trace_fields())
