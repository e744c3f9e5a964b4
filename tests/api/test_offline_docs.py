"""Issue 14 item 8: /docs and /redoc work on an offline network: every file they load comes from this app."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.offline_docs import ASSETS_URL

CONTENT_TYPES = {".js": ("text/javascript", "application/javascript"), ".css": ("text/css",), ".png": ("image/png",)}


class References(HTMLParser):
    """Every URL an HTML page makes the browser load: src, href, ReDoc's spec-url."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href", "spec-url") and value]


def references(html: str) -> list[str]:
    parser = References()
    parser.feed(html)
    return parser.urls


def _client(settings, **changes) -> TestClient:
    return TestClient(
        create_app(settings.model_copy(update=changes), enqueue=lambda _id: None, enqueue_training=lambda _id: None)
    )


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_load_only_files_of_this_app(settings, storage, path):
    with _client(settings) as c:
        page = c.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]  # the browser itself refuses anything from elsewhere
        assert "default-src 'none'" in csp and "connect-src 'self'" in csp and "img-src 'self' data:" in csp
        assert "unsafe-inline" not in csp.split("script-src ")[1].split(";")[0]
        urls = references(page.text)
        assert any(u.endswith(".js") for u in urls), urls
        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), f"{path} loads {url} from elsewhere"
        # nothing absolute anywhere in the page either (inline script, styles, comments)
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", page.text, re.I), page.text
        if path == "/docs":
            assert '"validatorUrl": null' in page.text  # no badge image from validator.swagger.io
            assert "url: '/openapi.json'" in page.text
        for url in urls:
            if url == "/openapi.json":
                continue
            asset = c.get(url)
            assert asset.status_code == 200, url
            suffix = url[url.rfind(".") :]
            assert asset.headers["content-type"].split(";")[0] in CONTENT_TYPES[suffix], (url, asset.headers)
            assert len(asset.content) > 1000, url


def test_the_swagger_files_are_the_real_ones(settings, storage):
    with _client(settings) as c:
        js = c.get(f"{ASSETS_URL}/swagger-ui-bundle.js").text
        assert "SwaggerUIBundle" in js
        assert ".swagger-ui" in c.get(f"{ASSETS_URL}/swagger-ui.css").text
        assert "Redoc" in c.get(f"{ASSETS_URL}/redoc.standalone.js").text
        assert c.get("/docs/oauth2-redirect").status_code == 200
        assert c.get("/openapi.json").json()["info"]["title"] == "CropWatch"


def test_production_serves_neither_the_pages_nor_their_files(settings, storage):
    with _client(settings, environment="production", ops_token="ops-secret-1") as c:
        for path in (
            "/docs",
            "/redoc",
            "/docs/oauth2-redirect",
            "/openapi.json",
            f"{ASSETS_URL}/swagger-ui-bundle.js",
            f"{ASSETS_URL}/redoc.standalone.js",
        ):
            assert c.get(path).status_code == 404, path
    with _client(settings, environment="production", ops_token="ops-secret-1", api_docs=True) as c:
        assert c.get("/docs").status_code == 200  # an operator who asks for them gets them, offline too
        assert c.get(f"{ASSETS_URL}/swagger-ui.css").status_code == 200
