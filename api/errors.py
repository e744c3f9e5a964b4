"""API errors with a stable code and a message in the caller's language (vi default)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from cropwatch.i18n import normalize_locale, t
from cropwatch.ingest import IngestError
from cropwatch.storage import StorageError


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
