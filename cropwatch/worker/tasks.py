"""Celery tasks: ids in, a service call, nothing heavy through the broker.

The capture pipeline (onnxruntime, OpenCV, numpy) is imported inside the tasks, not here: Celery's main process
imports this module to know the task names and never runs one, so it stays small; each pool process imports the
pipeline when it warms up (issue 16's worker memory)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from functools import lru_cache
from typing import TYPE_CHECKING

from celery.signals import worker_process_init

from cropwatch.core import heartbeat
from cropwatch.core.db import session_factory
from cropwatch.core.enums import ModelTask
from cropwatch.core.queue import DELIVER_TASK, DETECT_TASK, RETENTION_TASK, SWEEP_TASK, app, enqueue_detect
from cropwatch.core.settings import get_settings
from cropwatch.core.storage import Storage

if TYPE_CHECKING:
    from cropwatch.worker.pipeline import CaptureProcessor

log = logging.getLogger(__name__)


_processor_lock = threading.Lock()


@lru_cache(maxsize=1)
def _make_processor() -> CaptureProcessor:
    from cropwatch.worker.pipeline import CaptureProcessor

    settings = get_settings()
    return CaptureProcessor(
        settings, session_factory(settings.db_url), Storage(settings), on_batch=_count_batch, requeue=enqueue_detect
    )


def processor() -> CaptureProcessor:
    with _processor_lock:  # the warm-up thread and the first task may ask at once
        return _make_processor()


def _count_batch(images: int, total_ms: float) -> None:
    stats = worker_heartbeat().stats
    stats.batches += 1
    stats.batch_images += images
    stats.inference_count += images
    stats.inference_ms_sum += total_ms


@lru_cache(maxsize=1)
def worker_heartbeat() -> heartbeat.Heartbeat:
    settings = get_settings()
    url = heartbeat.redis_url_for(settings.celery_broker_url, settings.heartbeat_redis_url)
    return heartbeat.Heartbeat(heartbeat.client(url))


def _beat(force: bool = False) -> None:
    s = get_settings()
    worker_heartbeat().beat(
        processor().models.loaded(),
        force=force,
        execution_provider_setting=s.execution_provider,
        model_variant_setting=s.model_variant,
        batch_size=s.batch_size,
    )


@worker_process_init.connect
def _on_process_init(**_: object) -> None:
    # in a thread: Celery gives a new pool process only a few seconds to report ready
    threading.Thread(target=_warm_up, name="cropwatch-warm-up", daemon=True).start()


def _warm_up() -> None:
    """Load the production models when the worker process starts (the first capture does not wait for it) and
    report what this process serves."""
    proc = processor()
    with proc.sessions() as s:
        for task in ModelTask:
            try:
                proc.models.get(s, task)
            except Exception as exc:  # noqa: BLE001 - a missing model is reported, the task retries later
                log.warning("no %s model loaded at start: %s", task.value, exc)
    _beat(force=True)


@app.task(name=DETECT_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=20)
def detect(self, capture_id: int) -> str:
    from cropwatch.worker.pipeline import Outcome

    result = processor().process_batch(capture_id)
    worker_heartbeat().stats.outcomes[result.outcome.value] += 1
    _beat()
    if result.outcome == Outcome.retry:
        countdown = min(60, 2**self.request.retries)
        log.warning("capture %s: %s; retry in %ss", capture_id, result.detail, countdown)
        raise self.retry(countdown=countdown)
    if result.outcome == Outcome.failed:
        log.warning("capture %s failed: %s", capture_id, result.detail)
    return result.outcome.value


@app.task(name=SWEEP_TASK)
def sweep_stuck() -> int:
    """Re-publish stuck captures, and check the `silence` rules (cameras that stopped sending)."""
    from cropwatch.alerts.rules import check_silent_cameras_each
    from cropwatch.captures.sweeper import clean_uploads, sweep

    settings = get_settings()
    sessions = session_factory(settings.db_url)
    n = sweep(sessions, enqueue_detect, older_than=dt.timedelta(seconds=settings.stuck_after_seconds))
    for message in check_silent_cameras_each(sessions):
        log.warning("camera silent: %s", message)
    try:
        clean_uploads(sessions, Storage(settings))
    except Exception:
        log.exception("cleaning incoming uploads failed")
    return n


@app.task(name=DELIVER_TASK, ignore_result=True)
def deliver() -> dict:
    """Send the alert notifications that are due (beat, every notify_interval_seconds)."""
    from cropwatch.alerts.notify import deliver_due

    settings = get_settings()
    return deliver_due(session_factory(settings.db_url), settings)


@app.task(name=RETENTION_TASK, ignore_result=True)
def retention() -> dict:
    """Apply every cooperative's photo retention policy (beat, nightly); what it removed is in `retention_runs`."""
    from cropwatch.captures.retention import apply_all

    settings = get_settings()
    done = apply_all(session_factory(settings.db_url), Storage(settings))
    return {str(o.cooperative_id): o.removed for o in done}
