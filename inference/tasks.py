"""Celery tasks: ids in, a service call, nothing heavy through the broker."""

from __future__ import annotations

import datetime as dt
import logging
from functools import lru_cache

from cropwatch.db import session_factory
from cropwatch.queue import DETECT_TASK, SWEEP_TASK, app, enqueue_detect
from cropwatch.settings import get_settings
from cropwatch.storage import Storage
from cropwatch.sweeper import sweep
from inference.service import CaptureProcessor, Outcome

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def processor() -> CaptureProcessor:
    settings = get_settings()
    return CaptureProcessor(settings, session_factory(settings.db_url), Storage(settings))


@app.task(name=DETECT_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=20)
def detect(self, capture_id: int) -> str:  # noqa: ANN001
    result = processor().process(capture_id)
    if result.outcome == Outcome.retry:
        countdown = min(60, 2 ** self.request.retries)
        log.warning("capture %s: %s; retry in %ss", capture_id, result.detail, countdown)
        raise self.retry(countdown=countdown)
    if result.outcome == Outcome.failed:
        log.warning("capture %s failed: %s", capture_id, result.detail)
    return result.outcome.value


@app.task(name=SWEEP_TASK)
def sweep_stuck() -> int:
    settings = get_settings()
    return sweep(session_factory(settings.db_url), enqueue_detect,
                 older_than=dt.timedelta(seconds=settings.stuck_after_seconds))
