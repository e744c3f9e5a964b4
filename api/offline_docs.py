"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) that work without the internet.

FastAPI's own pages load their JavaScript, CSS, favicon and (ReDoc) Google fonts from CDNs, so on a cooperative's
offline network they stay blank. The same pages here take the files from the ``fastapi-offline`` package (MIT; it
ships Swagger UI 5 and ReDoc 2 as released, with FastAPI's favicon) under ``/docs-static``, and turn off Swagger
UI's online validator badge (an image from validator.swagger.io). A Content-Security-Policy lets the pages load
nothing but this app's files (ReDoc's sidebar still asks for Redocly's logo from its CDN: the browser refuses it and
ReDoc hides the image); Swagger UI's one inline script is allowed by its hash, not by 'unsafe-inline'. Not
registered at all where the docs are hidden (production by default, see ``create_app``).
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs-static"
ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
#: Swagger UI's options: no online validator (it would fetch a badge from validator.swagger.io)
SWAGGER_PARAMETERS = {"validatorUrl": None}
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
#: styles: Swagger UI and ReDoc set style attributes and ReDoc injects <style> elements; ReDoc's search runs in a
#: worker made from a blob: URL
CSP = (
    "default-src 'none'; script-src {script_src}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def inline_script_hashes(html: str) -> list[str]:
    """CSP source expressions ('sha256-…') of the page's inline scripts."""
    return [
        f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
        for body in INLINE_SCRIPT.findall(html)
    ]


def with_security_headers(page: HTMLResponse) -> HTMLResponse:
    script_src = " ".join(["'self'", *inline_script_hashes(page.body.decode())])
    page.headers["Content-Security-Policy"] = CSP.format(script_src=script_src)
    page.headers["X-Content-Type-Options"] = "nosniff"
    page.headers["X-Frame-Options"] = "DENY"
    page.headers["Referrer-Policy"] = "same-origin"
    return page


def missing_assets(directory: Path = ASSETS_DIR) -> list[str]:
    return [name for name in ASSETS if not (directory / name).is_file()]


def _root(request: Request) -> str:
    return request.scope.get("root_path", "")


def register_offline_docs(app: FastAPI, *, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Serve the docs pages and their files from this app; ``app.openapi_url`` must be set."""
    missing = missing_assets()
    if missing:  # a broken install: say so at start, not with a blank page later
        raise RuntimeError(f"fastapi-offline is missing {missing} in {ASSETS_DIR}")
    openapi_url = app.openapi_url
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-static")

    @app.get(docs_url, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = _root(request)
        return with_security_headers(
            get_swagger_ui_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{app.title} - Swagger UI",
                oauth2_redirect_url=f"{root}{oauth2_redirect_url}" if oauth2_redirect_url else None,
                swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
                swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
                swagger_ui_parameters={**SWAGGER_PARAMETERS, **(app.swagger_ui_parameters or {})},
            )
        )

    if oauth2_redirect_url:

        @app.get(oauth2_redirect_url, include_in_schema=False)
        def swagger_ui_oauth2_redirect() -> HTMLResponse:
            return with_security_headers(get_swagger_ui_oauth2_redirect_html())

    @app.get(redoc_url, include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = _root(request)
        return with_security_headers(
            get_redoc_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
                with_google_fonts=False,
            )
        )
