"""Request bodies are bounded before anything reads them, and API bodies need credentials first.

A pure ASGI middleware (nothing is buffered here): a ``Content-Length`` over the route class's limit is answered 413
at once; a body without one (chunked) is counted while the app reads it and cut off with 413 at the limit. On
``/api/`` routes a request with a body and no ``Authorization`` header is answered 401 before one byte of it is read
(sign-in excepted): an anonymous 21 MB JSON array no longer costs the API half a gigabyte before its 401.

Route classes: photo uploads (camera upload, diary with photos, the diary page form) may carry the upload limit
times the photos allowed per entry; everything else (JSON, forms) 1 MiB.
"""

from __future__ import annotations

import json
import re

from fastapi import HTTPException

from cropwatch.core.i18n import normalize_locale, t

UPLOAD_ROUTES = re.compile(r"^/(api/v1/ingest/upload|api/v1/diary|plots/\d+/diary)$")
NO_CREDENTIALS_NEEDED = re.compile(r"^/api/v1/auth/token$")
SMALL_BODY = 1024 * 1024


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` past the limit: an HTTPException, so FastAPI's body parsing passes it on as a 413
    (any other error there becomes its generic 400)."""

    def __init__(self, limit: int, locale: str) -> None:
        super().__init__(status_code=413, detail=t("body_too_large", locale, limit_mb=_mb(limit)))


class BodyLimits:
    def __init__(self, app, *, max_upload_bytes: int, max_photos: int) -> None:
        self.app = app
        self.upload_limit = max_upload_bytes * max_photos + SMALL_BODY

    def limit_for(self, path: str) -> int:
        return self.upload_limit if UPLOAD_ROUTES.match(path) else SMALL_BODY

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        path = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        locale = normalize_locale(headers.get("accept-language"))
        length = headers.get("content-length")
        has_body = (length not in (None, "0")) or "chunked" in headers.get("transfer-encoding", "")
        if (
            has_body
            and path.startswith("/api/")
            and not NO_CREDENTIALS_NEEDED.match(path)
            and not headers.get("authorization")
        ):
            return await _reply(send, 401, "unauthorized", locale, {"WWW-Authenticate": "Bearer"})
        limit = self.limit_for(path)
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                return await _reply(send, 400, "bad_content_length", locale)
            if declared > limit:
                return await _reply(send, 413, "body_too_large", locale, limit_mb=_mb(limit))
        seen = 0
        started = False

        async def counted_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit, locale)
            return message

        async def tracked_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:  # read outside FastAPI's body parsing (e.g. request.stream() in a handler)
            if not started:
                await _reply(send, 413, "body_too_large", locale, limit_mb=_mb(limit))


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.0f}"


async def _reply(send, status: int, code: str, locale: str, headers: dict | None = None, **params) -> None:
    body = json.dumps(
        {"code": code, "detail": t(code, locale, **params), "detail_en": t(code, "en", **params)}, ensure_ascii=False
    ).encode()
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
