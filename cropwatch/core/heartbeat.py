"""Worker heartbeats: what each worker process serves (model, variant, execution provider) and what it has done.

Each worker process writes one small JSON value to Redis (the broker, when it is Redis) under
``cropwatch:worker:<host>:<pid>`` with a TTL, at start and after tasks (at most every few seconds). The API's
``/health`` lists them and ``/metrics`` turns them into Prometheus series, so one scrape of the API shows every
worker's provider and throughput. With a RabbitMQ broker there is no Redis and workers report nothing here (their
logs still name the provider); set ``CROPWATCH_HEARTBEAT_REDIS_URL`` to a Redis to keep the reports.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import redis

log = logging.getLogger(__name__)

PREFIX = "cropwatch:worker:"
TTL_SECONDS = 90


def redis_url_for(broker_url: str | None, explicit: str | None = None) -> str | None:
    """The Redis URL heartbeats use: explicit setting, else the broker's when it is Redis, else None."""
    url = explicit or broker_url
    if not url:
        return None
    if url.startswith("redis+socket://"):
        return "unix://" + url.removeprefix("redis+socket://")
    if url.startswith(("redis://", "rediss://", "unix://")):
        return url
    return None


def client(url: str | None) -> redis.Redis | None:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2) if url else None


@dataclass
class WorkerStats:
    """Counters of one worker process, sent with every heartbeat."""

    outcomes: Counter = field(default_factory=Counter)
    inference_ms_sum: float = 0.0
    inference_count: int = 0
    batches: int = 0
    batch_images: int = 0
    started_at: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcomes": dict(self.outcomes),
            "inference_ms_sum": round(self.inference_ms_sum, 3),
            "inference_count": self.inference_count,
            "batches": self.batches,
            "batch_images": self.batch_images,
            "started_at": self.started_at,
        }


class Heartbeat:
    def __init__(self, redis_client: redis.Redis | None, *, every: float = 5.0) -> None:
        self.redis = redis_client
        self.every = every
        self.key = f"{PREFIX}{socket.gethostname()}:{os.getpid()}"
        self.stats = WorkerStats()
        self._last = 0.0
        self._lock = threading.Lock()

    def beat(self, models: list[dict], *, force: bool = False, **extra: Any) -> bool:
        """Publish now if ``every`` seconds passed (or ``force``); a Redis error is logged, never raised."""
        if self.redis is None:
            return False
        with self._lock:
            now = time.time()
            if not force and now - self._last < self.every:
                return False
            self._last = now
        value = {
            "worker": self.key.removeprefix(PREFIX),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "at": now,
            "models": models,
            "stats": self.stats.as_dict(),
            **extra,
        }
        try:
            self.redis.set(self.key, json.dumps(value), ex=TTL_SECONDS)
            return True
        except redis.RedisError as exc:
            log.warning("heartbeat not sent: %s", exc)
            return False


def read_all(redis_client: redis.Redis | None) -> list[dict[str, Any]]:
    """The live workers' last heartbeats (expired ones are gone with their TTL)."""
    if redis_client is None:
        return []
    out = []
    try:
        keys = sorted(redis_client.scan_iter(match=f"{PREFIX}*", count=200))
        for raw in redis_client.mget(keys) if keys else []:
            if raw:
                out.append(json.loads(raw))
    except (redis.RedisError, ValueError) as exc:
        log.warning("could not read worker heartbeats: %s", exc)
    return out
