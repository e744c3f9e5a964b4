"""Celery task of the training queue: a run id in, ``training.jobs.execute`` (which records status and log)."""

from __future__ import annotations

from cropwatch.core.db import session_factory
from cropwatch.core.queue import TRAIN_TASK, app
from cropwatch.core.settings import get_settings
from cropwatch.core.storage import Storage


@app.task(name=TRAIN_TASK, acks_late=True, reject_on_worker_lost=True)
def train(run_id: int) -> str:
    from training.jobs import execute

    settings = get_settings()
    run = execute(run_id, sessions=session_factory(settings.db_url), storage=Storage(settings), settings=settings)
    return run.status
