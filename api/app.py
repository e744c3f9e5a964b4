"""FastAPI application factory."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from sqlalchemy.exc import DataError

from api import web
from api.body_limits import BodyLimits
from api.errors import data_error_handler, ingest_error_handler, storage_error_handler
from api.offline_docs import register_offline_docs
from api.request_metrics import RequestMetrics
from api.routers import (
    agent,
    alerts,
    auth,
    cameras,
    captures,
    certifications,
    channels,
    diary,
    forecast,
    health,
    ingest,
    learning,
    lot_chain,
    lots,
    models,
    plots,
    retention,
    review,
    rules,
)
from cropwatch.captures.ingest import IngestError
from cropwatch.core import heartbeat
from cropwatch.core.db import session_factory
from cropwatch.core.queue import enqueue_detect, make_celery
from cropwatch.core.queue import enqueue_training as queue_training
from cropwatch.core.ratelimit import RateLimiter
from cropwatch.core.settings import Settings, get_settings
from cropwatch.core.storage import Storage, StorageError


def create_app(
    settings: Settings | None = None,
    *,
    enqueue: Callable[[int], None] | None = None,
    enqueue_training: Callable[[int], None] | None = None,
) -> FastAPI:
    """The API; ``enqueue`` publishes detect(capture_id) and ``enqueue_training`` train(run_id) (default: Celery on
    the configured broker)."""
    settings = settings or get_settings()
    celery_app = make_celery(settings) if enqueue is None or enqueue_training is None else None
    if enqueue is None:

        def enqueue(capture_id: int) -> None:
            enqueue_detect(capture_id, celery_app=celery_app)

    if enqueue_training is None:

        def enqueue_training(run_id: int) -> None:
            queue_training(run_id, celery_app=celery_app)

    docs = settings.api_docs if settings.api_docs is not None else settings.environment != "production"
    app = FastAPI(
        docs_url=None,
        redoc_url=None,  # register_offline_docs serves both without a CDN
        openapi_url="/openapi.json" if docs else None,
        title="CropWatch",
        version="0.1.0",
        description="Pest and ripeness monitoring for farming cooperatives (API; Vietnamese messages by default, "
        "`Accept-Language: en` or `?lang=en` for English).",
    )
    if docs:
        register_offline_docs(app)
    app.state.settings = settings
    app.state.sessions = session_factory(settings.db_url)
    app.state.storage = Storage(settings)
    app.state.limiter = RateLimiter(
        heartbeat.client(heartbeat.redis_url_for(settings.celery_broker_url, settings.heartbeat_redis_url))
    )
    app.state.enqueue = enqueue
    app.state.enqueue_training = enqueue_training
    app.add_exception_handler(IngestError, ingest_error_handler)
    app.add_exception_handler(StorageError, storage_error_handler)
    app.add_exception_handler(DataError, data_error_handler)
    app.add_middleware(BodyLimits, max_upload_bytes=settings.max_upload_bytes, max_photos=settings.max_diary_photos)
    app.add_middleware(RequestMetrics)  # outermost: the whole request's time
    web.register(app)  # pages; also answers ApiError on page paths as HTML
    for module in (
        health,
        auth,
        plots,
        agent,
        cameras,
        ingest,
        captures,
        alerts,
        diary,
        models,
        review,
        learning,
        lots,
        lot_chain,
        certifications,
        channels,
        rules,
        retention,
        forecast,
    ):
        app.include_router(module.router)
    return app
