"""Health and Prometheus metrics of the service: API, database, object storage and the workers' heartbeats."""

from __future__ import annotations

import hmac
import logging
import time

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from sqlalchemy import func, select, text

from cropwatch.core import heartbeat
from cropwatch.core.metrics import exposition
from cropwatch.core.orm import Capture
from cropwatch.core.storage import StorageError

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


def operator(request: Request) -> bool:
    """Whether the caller may see operational detail: with the ops token, or outside production when none is set."""
    settings = request.app.state.settings
    token = settings.ops_token
    if not token:
        return settings.environment != "production"
    given = request.headers.get("authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def _heartbeat_client(request: Request):
    state = request.app.state
    if not hasattr(state, "heartbeat_redis"):
        s = state.settings
        state.heartbeat_redis = heartbeat.client(heartbeat.redis_url_for(s.celery_broker_url, s.heartbeat_redis_url))
    return state.heartbeat_redis


def _workers(request: Request) -> list[dict]:
    return heartbeat.read_all(_heartbeat_client(request))


@router.get(
    "/health",
    responses={
        503: {"description": "Degraded: the database or object storage is unreachable (same body, `status: degraded`)"}
    },
)
def health(request: Request, response: Response) -> dict:
    """Liveness of the API, reachability of the database and object storage, and what each live worker serves
    (model version, FP32/INT8 variant and the execution provider really in use)."""
    state = request.app.state
    checks = {}
    try:
        with state.sessions() as s:
            s.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:
        log.exception("health: database")
        checks["database"] = "error"
    try:
        state.storage.stat("health-probe")
        checks["object_storage"] = "ok"
    except StorageError:
        log.exception("health: object storage")
        checks["object_storage"] = "error"
    ok = all(v == "ok" for v in checks.values())
    response.status_code = 200 if ok else 503
    if not operator(request):  # no hosts, pids, models or error texts for anonymous callers
        return {"status": "ok" if ok else "degraded", "checks": checks}
    now = time.time()
    workers = [
        {
            "worker": w["worker"],
            "models": w.get("models", []),
            "batch_size": w.get("batch_size"),
            "seen_seconds_ago": round(now - w.get("at", now), 1),
        }
        for w in _workers(request)
    ]
    return {
        "status": "ok" if ok else "degraded",
        "checks": checks,
        "execution_provider": state.settings.execution_provider,
        "model_variant": state.settings.model_variant,
        "workers": workers,
    }


@router.get("/metrics", response_class=PlainTextResponse, responses={401: {"description": "ops token needed"}})
def metrics(request: Request) -> Response:
    """Prometheus text format: the capture path's counters and histograms (every API and worker process of this
    data dir: cropwatch.core.metrics) plus, from the heartbeats, one series set per worker.
    Aggregates only (no cooperative's data). In production it needs ``Authorization: Bearer $CROPWATCH_OPS_TOKEN``
    (Prometheus: ``authorization: {credentials: ...}``)."""
    if not operator(request):
        return PlainTextResponse("ops token required\n", status_code=401, headers={"WWW-Authenticate": "Bearer"})
    reg = CollectorRegistry()
    info = Gauge(
        "cropwatch_worker_model_info",
        "model a worker process serves (value 1)",
        ["worker", "task", "model_version", "variant", "provider"],
        registry=reg,
    )
    outcomes = Gauge(
        "cropwatch_worker_captures",
        "captures handled by a worker process since it started",
        ["worker", "outcome"],
        registry=reg,
    )
    inf_sum = Gauge("cropwatch_worker_inference_ms_sum", "model time spent, ms", ["worker"], registry=reg)
    inf_count = Gauge("cropwatch_worker_inference_images", "images through the model", ["worker"], registry=reg)
    batches = Gauge("cropwatch_worker_batches", "model calls (batches)", ["worker"], registry=reg)
    live = Gauge("cropwatch_workers_live", "worker processes with a live heartbeat", registry=reg)
    by_status = Gauge("cropwatch_captures", "captures by status, all cooperatives", ["status"], registry=reg)
    workers = _workers(request)
    live.set(len(workers))
    for w in workers:
        name = w["worker"]
        for m in w.get("models", []):
            info.labels(name, m["task"], str(m["model_version_id"]), m["variant"], m["provider"]).set(1)
        st = w.get("stats", {})
        for outcome, n in st.get("outcomes", {}).items():
            outcomes.labels(name, outcome).set(n)
        inf_sum.labels(name).set(st.get("inference_ms_sum", 0))
        inf_count.labels(name).set(st.get("inference_count", 0))
        batches.labels(name).set(st.get("batches", 0))
    try:
        with request.app.state.sessions() as s:
            for status, n in s.execute(select(Capture.status, func.count(Capture.id)).group_by(Capture.status)):
                by_status.labels(status.value).set(n)
    except Exception:  # noqa: BLE001 - metrics must answer even when the database does not
        pass
    own = exposition(request.app.state.settings.data_dir)  # the histograms of every API and worker process
    return Response(own + generate_latest(reg), media_type=CONTENT_TYPE_LATEST)
