from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from cropwatch.storage import StorageError

router = APIRouter(tags=["health"])


@router.get("/health")
def health(request: Request, response: Response) -> dict:
    """Liveness of the API and reachability of the database and object storage."""
    state = request.app.state
    checks = {}
    try:
        with state.sessions() as s:
            s.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # pragma: no cover - reported, not raised
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        state.storage.stat("health-probe")
        checks["object_storage"] = "ok"
    except StorageError as exc:
        checks["object_storage"] = f"error: {exc}"
    ok = all(v == "ok" for v in checks.values())
    response.status_code = 200 if ok else 503
    return {"status": "ok" if ok else "degraded", "checks": checks,
            "execution_provider": state.settings.execution_provider}


@router.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
