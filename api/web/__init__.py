"""The server-rendered web UI (Jinja2 + HTMX), served by the API process.

Pages live next to the API under the same rules: the same tenant scoping (``api.scoping``), the same role sets
and the same service functions in ``cropwatch``; only the way of signing in (a cookie session, see ``session``)
and the output (HTML) differ. Static assets are vendored under ``api/static`` (no CDN, no build step).
"""

from __future__ import annotations

import math
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.errors import ApiError, api_error_handler
from api.web import (
    pages_account,
    pages_admin,
    pages_agronomist,
    pages_auth,
    pages_channels,
    pages_farmer,
    pages_forecast,
    pages_ml,
    pages_notifications,
)
from api.web.render import render, translate
from api.web.session import LoginRequired, page_locale

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
PAGE_MODULES = (
    pages_auth,
    pages_account,
    pages_notifications,
    pages_farmer,
    pages_agronomist,
    pages_ml,
    pages_admin,
    pages_channels,
    pages_forecast,
)


def is_page_request(request: Request) -> bool:
    path = request.url.path
    return not (path.startswith("/api/") or path.startswith("/t/") or path in ("/health", "/metrics"))


async def login_required_handler(request: Request, exc: LoginRequired) -> Response:
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": "/login"})
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def _usable_principal(request: Request):
    """The signed-in principal for an error page, unless its user row is no longer loadable (the request's
    session was rolled back and closed before the handler runs): then the page renders without the menu."""
    principal = getattr(request.state, "principal", None)
    try:
        if principal is not None:
            _ = (principal.user.full_name, principal.user.username, principal.user.locale)
        return principal
    except Exception:  # noqa: BLE001
        request.state.principal = None
        return None


async def error_handler(request: Request, exc: ApiError) -> Response:
    """API paths keep their JSON errors; pages get an HTML page (or a fragment for HTMX) in the page language."""
    if not is_page_request(request):
        return await api_error_handler(request, exc)
    locale = page_locale(request, _usable_principal(request))
    message = (
        translate({403: "error_403", 404: "error_404"}.get(exc.status, exc.code), locale, **exc.params)
        if exc.status in (403, 404)
        else translate(exc.code, locale, **exc.params)
    )
    if request.headers.get("hx-request"):
        return render(request, "_flash.html", status=exc.status, message=message, kind="error")
    return render(request, "error.html", status=exc.status, message=message, code=exc.status)


async def validation_handler(request: Request, exc: RequestValidationError) -> Response:
    """Pages answer a form that fails validation with the fields at fault, in the page language (422)."""
    if not is_page_request(request):
        # FastAPI echoes the refused value; a NaN, Infinity or 1e400 in it cannot be written as JSON: drop those
        errors = [{k: v for k, v in e.items() if k != "input" or _finite(v)} for e in exc.errors()]
        return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)
    locale = page_locale(request, _usable_principal(request))
    fields = ", ".join(sorted({str(e["loc"][-1]) for e in exc.errors() if e.get("loc")}))
    message = translate("validation_failed", locale, fields=fields)
    if request.headers.get("hx-request"):
        return render(request, "_flash.html", status=422, message=message, kind="error")
    return render(request, "error.html", status=422, message=message, code=422)


def _finite(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_finite(v) for v in value)
    return True


def register(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_exception_handler(LoginRequired, login_required_handler)
    app.add_exception_handler(ApiError, error_handler)
    app.add_exception_handler(RequestValidationError, validation_handler)
    for module in PAGE_MODULES:
        app.include_router(module.router)
