"""API errors with a stable code and a message in the caller's language (vi default)."""

from __future__ import annotations

import logging

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError

from cropwatch.captures.ingest import IngestError
from cropwatch.core.i18n import normalize_locale, t
from cropwatch.core.storage import StorageError

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, headers: dict[str, str] | None = None, **params: object) -> None:
        super().__init__(code)
        self.status, self.code, self.params, self.headers = status, code, params, headers


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", what=what)


def request_locale(request: Request) -> str:
    return normalize_locale(request.query_params.get("lang") or request.headers.get("accept-language"))


def _body(request: Request, code: str, params: dict) -> dict:
    locale = request_locale(request)
    return {"code": code, "detail": t(code, locale, **params), "detail_en": t(code, "en", **params)}


async def api_error_handler(request: Request, exc: ApiError) -> JSONResponse:
    return JSONResponse(_body(request, exc.code, exc.params), status_code=exc.status, headers=exc.headers)


async def ingest_error_handler(request: Request, exc: IngestError) -> JSONResponse:
    return JSONResponse(_body(request, exc.key, exc.params), status_code=exc.status)


async def storage_error_handler(request: Request, exc: StorageError) -> JSONResponse:
    return JSONResponse(_body(request, "storage_unavailable", {}), status_code=503, headers={"Retry-After": "10"})


async def data_error_handler(request: Request, exc: DataError) -> JSONResponse:
    """A value the database refuses — PostgreSQL: a NUL byte in a text, a number beyond its column (SQLite stores
    both) — is the request's fault: 422 in the shape of a validation error (what the schema documents), not a 500."""
    log.warning("database refused a value of %s %s: %s", request.method, request.url.path, exc.orig)
    return JSONResponse(
        {
            "detail": [
                {
                    "loc": ["body"],
                    "msg": "a value the database cannot store (a NUL character or a number out of range)",
                    "type": "value_error",
                }
            ]
        },
        status_code=422,
    )
