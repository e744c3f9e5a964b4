"""Request time per route template and method (``cropwatch_http_request_seconds``), as a plain ASGI middleware.

The label is the route's template (``/api/v1/captures/{capture_id}``), never the raw path, so the series stay few;
a request no route matched (a 404, static files) is labelled ``other``.
"""

from __future__ import annotations

import time

from cropwatch.core.metrics import HTTP_SECONDS


class RequestMetrics:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            route = getattr(scope.get("route"), "path", None) or "other"
            HTTP_SECONDS.labels(route, scope.get("method", "")).observe(time.perf_counter() - t0)
