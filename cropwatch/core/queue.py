"""Celery application and its delivery guarantees (ARCHITECTURE.md §5).

Tasks carry ids only, never images. A worker killed with -9 leaves its message unacknowledged
(`acks_late` + `reject_on_worker_lost`), Redis re-delivers it after `visibility_timeout`, and the
sweeper re-enqueues captures stuck in `stored`/`processing` whatever happened to the broker.
"""

from __future__ import annotations

from celery import Celery
from celery.schedules import crontab

from cropwatch.core.settings import Settings, get_settings

DETECT_TASK = "cropwatch.detect"
SWEEP_TASK = "cropwatch.sweep"
TRAIN_TASK = "cropwatch.train"
DELIVER_TASK = "cropwatch.deliver"
RETENTION_TASK = "cropwatch.retention"
INFERENCE_QUEUE = "inference"
MAINTENANCE_QUEUE = "maintenance"
TRAINING_QUEUE = "training"  # its own workers: a training job must not hold up detection


def _transport_options(settings: Settings) -> dict:
    """Per broker. RabbitMQ: publisher confirms (a publish returns once the broker holds the message; Celery's
    queues there are durable and its messages persistent by default), and an unacknowledged message comes back as
    soon as its worker's connection drops. Redis: the visibility timeout plays that part."""
    if settings.celery_broker_url.startswith(("amqp://", "amqps://", "pyamqp://")):
        return {"confirm_publish": True}
    return {
        "visibility_timeout": settings.broker_visibility_timeout,
        # kombu >= 5.7 scans for unacknowledged messages only every interval x throttle (10 s x 10 by default),
        # which re-delivers up to 100 s after the visibility timeout: scan every few seconds instead (one
        # cheap ZRANGE per worker)
        "unacked_restore_interval": max(1, min(10, settings.broker_visibility_timeout // 2)),
        "unacked_restore_throttle": 1,
    }


def make_celery(settings: Settings) -> Celery:
    app = Celery("cropwatch", broker=settings.celery_broker_url, include=["cropwatch.worker.tasks", "training.tasks"])
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=INFERENCE_QUEUE,
        task_routes={
            DETECT_TASK: {"queue": INFERENCE_QUEUE},
            SWEEP_TASK: {"queue": MAINTENANCE_QUEUE},
            TRAIN_TASK: {"queue": TRAINING_QUEUE},
            DELIVER_TASK: {"queue": MAINTENANCE_QUEUE},
            RETENTION_TASK: {"queue": MAINTENANCE_QUEUE},
        },
        broker_transport_options=_transport_options(settings),
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        worker_hijack_root_logger=False,
        worker_max_tasks_per_child=2000,
        timezone=settings.timezone,
        enable_utc=True,
        beat_schedule={
            "sweep-stuck-captures": {"task": SWEEP_TASK, "schedule": float(settings.sweep_interval_seconds)},
            "deliver-notifications": {"task": DELIVER_TASK, "schedule": float(settings.notify_interval_seconds)},
            # photo retention, at 02:30 Hà Nội time when cameras are quiet (a run is idempotent: a missed or a
            # repeated night changes nothing)
            "photo-retention": {"task": RETENTION_TASK, "schedule": crontab(hour=2, minute=30)},
        },
    )
    return app


app = make_celery(get_settings())


def enqueue_detect(capture_id: int, *, celery_app: Celery | None = None) -> None:
    """Publish detect(capture_id); raises if the broker is down (the capture stays `stored` for the sweeper)."""
    (celery_app or app).send_task(DETECT_TASK, args=[capture_id], queue=INFERENCE_QUEUE, retry=False)


def enqueue_training(run_id: int, *, celery_app: Celery | None = None) -> None:
    """Publish train(run_id) on the training queue."""
    (celery_app or app).send_task(TRAIN_TASK, args=[run_id], queue=TRAINING_QUEUE, retry=False)
