"""Prometheus metrics measured where the work happens: Counters and Histograms of the capture path.

In a process started by ``cropwatch api`` or ``cropwatch worker`` they are in prometheus_client's multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``: ``<data dir>/metrics/<role>-<pid>``, set by the command before anything imports
prometheus_client: :mod:`cropwatch.core.metrics_dir`), so every uvicorn worker and every Celery pool process adds to
the same series. The API's ``/metrics`` merges every folder under the data dir's ``metrics/`` (the all-in-one box
answers for its workers too); a worker on its own host serves its own with ``cropwatch worker --metrics-port``.
Without the variable (tests, scripts) they are ordinary in-process metrics.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess as mp

from cropwatch.core.metrics_dir import ENV, metrics_root

#: seconds; captures take tens of milliseconds to tens of seconds (a morning backlog)
_LATENCY = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_FAST = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)

CAPTURE_SECONDS = Histogram(
    "cropwatch_capture_seconds", "upload confirmed to detections stored, per capture", buckets=_LATENCY
)
QUEUE_WAIT_SECONDS = Histogram(
    "cropwatch_queue_wait_seconds", "upload confirmed to claimed by a worker, per capture", buckets=_LATENCY
)
FORWARD_SECONDS = Histogram("cropwatch_forward_seconds", "the model's forward pass, per model call", buckets=_FAST)
BATCH_IMAGES = Histogram("cropwatch_batch_images", "images per model call", buckets=(1, 2, 4, 8, 16, 32, 64))
S3_SECONDS = Histogram("cropwatch_s3_seconds", "object storage calls", ["operation"], buckets=_FAST)
DB_SECONDS = Histogram("cropwatch_db_seconds", "database steps of the capture path", ["step"], buckets=_FAST)
CAPTURES = Counter("cropwatch_captures_processed", "captures a worker finished, by outcome", ["outcome"])
HTTP_SECONDS = Histogram(
    "cropwatch_http_request_seconds", "API requests, by route and method", ["route", "method"], buckets=_FAST
)


@contextmanager
def timed(histogram: Histogram, **labels: str) -> Iterator[None]:
    """Observe the block's wall time (seconds) in ``histogram``, also when it raises."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        (histogram.labels(**labels) if labels else histogram).observe(time.perf_counter() - t0)


def exposition(data_dir: Path) -> bytes:
    """The text a scrape gets: in multiprocess mode every command's folder under ``data_dir/metrics`` merged, else
    this process's default registry."""
    if not os.environ.get(ENV):
        return generate_latest()
    root = metrics_root(data_dir)
    folders = {Path(os.environ[ENV])} | ({f for f in root.iterdir() if f.is_dir()} if root.is_dir() else set())
    return generate_latest(_registry(sorted(f for f in folders if f.is_dir())))


def serving_registry(folder: Path) -> CollectorRegistry:
    """A registry of one command's folder (a worker host's own ``--metrics-port`` endpoint)."""
    return _registry([Path(folder)])


def _registry(folders: list[Path]) -> CollectorRegistry:
    reg = CollectorRegistry()
    reg.register(_Merged(folders))
    return reg


class _Merged:
    """prometheus_client's multiprocess merge over several folders at once (one family per metric name)."""

    def __init__(self, folders: list[Path]) -> None:
        self.folders = folders

    def collect(self):
        files = [str(f) for folder in self.folders for f in sorted(folder.glob("*.db"))]
        return mp.MultiProcessCollector.merge(files, accumulate=True)
