"""py-spy sampling of a running process (and its children) and the split of its CPU by step.

py-spy (a sampling profiler that attaches to a live process without changing it) records collapsed stacks:
one line per distinct stack, ``frame;frame;...;frame count``, each frame ``function (path:line)``. A sample counts for
the innermost frame that matches a step's fragment, so the shares do not overlap; samples matching none are the
``rest`` row. Only on-CPU samples are kept (py-spy leaves idle threads out by default).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

#: samples per second per thread (py-spy's default is 100)
RATE = 250


def start(pid: int, out: Path, *, children: bool = False, rate: int = RATE) -> subprocess.Popen:
    """py-spy recording ``pid`` (with ``children``: its child processes too, e.g. a Celery worker's pool) into
    collapsed stacks at ``out``; :func:`stop` ends it."""
    cmd = [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "--format", "raw"]
    cmd += ["--rate", str(rate), "--nonblocking", "--output", str(out)] + (["--subprocesses"] if children else [])
    spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)  # attached
    return spy


def stop(spy: subprocess.Popen) -> None:
    spy.send_signal(signal.SIGINT)
    try:
        spy.wait(30)
    except subprocess.TimeoutExpired:
        spy.kill()


#: the API's CPU by step (label, frame fragments)
API_STEPS = (
    ("object storage client (minio, urllib3)", ("minio/",)),
    ("queue publish (celery, kombu, redis)", ("kombu/", "celery/", "redis/")),
    ("database (SQLAlchemy, driver)", ("sqlalchemy/", "sqlite3", "psycopg/")),
    ("request and response models (pydantic)", ("pydantic",)),
    ("camera token check", ("api/deps.py",)),
    ("ingest logic (cropwatch/captures)", ("cropwatch/captures/",)),
)
API_REST = "HTTP server, routing, middleware, the rest"

#: a worker process's CPU by step: the pipeline's own functions first found from the innermost frame, then the queue
WORKER_STEPS = (
    ("claim (database)", ("_claim_many (cropwatch/worker/pipeline.py", "_claim (cropwatch/worker/pipeline.py")),
    ("object storage read", ("get_bytes (cropwatch/core/storage.py",)),
    ("decode", ("decode_reduced (inference/decode.py",)),
    ("detector: pre + forward + post", ("predict_batch (inference/detector.py", "predict (inference/detector.py")),
    ("store detections", ("store_detections (cropwatch/captures/results.py",)),
    ("alert rules", ("evaluate (cropwatch/alerts/rules.py",)),
    ("diary observation", ("automatic_observation (cropwatch/diary/entries.py",)),
    ("the capture's other database work", ("cropwatch/worker/pipeline.py",)),
    ("queue: Celery, kombu, the broker", ("celery/", "kombu/", "billiard/", "redis/", "amqp/")),
    ("heartbeat and metrics", ("cropwatch/core/heartbeat.py", "prometheus_client/")),
)
WORKER_REST = "the rest (interpreter, logging, threads)"


def split(stacks: Path, steps: tuple[tuple[str, tuple[str, ...]], ...], rest: str) -> list[tuple[str, float, int]]:
    """(label, share, samples) of each (label, frame fragments) step, innermost match first; ``rest`` for the
    others. At ``rate`` samples/s a sample of an on-CPU thread stands for 1/rate s of CPU (native threads such as
    onnxruntime's own pool are not sampled)."""
    total, hits = 0, dict.fromkeys([label for label, _ in steps] + [rest], 0)
    if not stacks.exists():
        return []
    for line in stacks.read_text().splitlines():
        frames, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        for frame in reversed(frames.split(";")):
            label = next((lab for lab, frags in steps if any(f in frame for f in frags)), None)
            if label:
                hits[label] += n
                break
        else:
            hits[rest] += n
    return [(label, hits[label] / total if total else 0.0, hits[label]) for label in hits]
