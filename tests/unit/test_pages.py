"""The playground page and the offline docs pages: served from files shipped with the frontend, under a
Content-Security-Policy that keeps them on this server (the browser tests render them for real)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient


def test_the_playground_is_served_at_the_root_with_its_own_files(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    # Every script, stylesheet and icon the page names is served here, by a root-relative path.
    assets = re.findall(r'(?:src|href)="([^"#]+)"', page.text)
    assert {"/playground/playground.js", "/playground/playground.css", "/docs"} <= set(assets)
    for asset in assets:
        assert asset.startswith("/"), asset
        assert client.get(asset).status_code == 200, asset


@pytest.mark.parametrize("path", ["/playground/index.html", "/playground/router.py", "/static/docs/x.js"])
def test_only_the_shipped_files_are_served(client: TestClient, path: str) -> None:
    missing = client.get(path)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_load_their_assets_from_this_server(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200
    assert "img-src 'self' data:" in page.headers["content-security-policy"]
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert urls and all(url.startswith("/static/docs/") for url in urls), urls
    assert "fonts.googleapis.com" not in page.text and "cdn.jsdelivr.net" not in page.text
    for url in urls:
        assert client.get(url).status_code == 200, url


def test_swagger_ui_sends_the_schema_to_no_online_validator(client: TestClient) -> None:
    assert '"validatorUrl": null' in client.get("/docs").text
