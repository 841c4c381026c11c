"""Every service's /docs works on an offline intranet: Swagger UI comes from the service."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from shared.webapp import SWAGGER_UI_DIR_VAR, create_service_app

REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']*)["']""")


def service_app() -> FastAPI:
    return create_service_app(title="t", description="d", readiness={})


def client_of(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_docs_load_every_file_from_the_service_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(SWAGGER_UI_DIR_VAR, raising=False)
    async with client_of(service_app()) as client:
        page = await client.get("/docs")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "http://" not in page.text
        assert "https://" not in page.text
        assert "cdn" not in page.text.lower()
        urls = REFERENCE.findall(page.text)
        assert len(urls) >= 3  # the script, the stylesheet, the icon
        assert "url: '/openapi.json'" in page.text
        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), url
            asset = await client.get(url)
            assert asset.status_code == 200, url
            assert asset.content, url
        redirect = await client.get("/docs/oauth2-redirect")
        assert redirect.status_code == 200
        assert "https://" not in redirect.text


async def test_docs_without_swagger_ui_installed_say_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(SWAGGER_UI_DIR_VAR, str(tmp_path))
    async with client_of(service_app()) as client:
        page = await client.get("/docs")
        asset = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert page.status_code == 503
    assert page.json()["error"]["code"] == "docs_assets_missing"
    assert "make web-assets" in page.json()["error"]["message"]
    assert asset.status_code == 404


async def test_the_openapi_description_stays_and_leaves_the_docs_pages_out() -> None:
    async with client_of(service_app()) as client:
        spec = await client.get("/openapi.json")
        redoc = await client.get("/redoc")
    assert spec.status_code == 200
    assert spec.json()["info"]["title"] == "t"
    assert "/healthz" in spec.json()["paths"]
    assert not [path for path in spec.json()["paths"] if path.startswith("/docs")]
    assert redoc.status_code == 404  # ReDoc is off: it too would load from a CDN
