"""Peak memory of a real worker through the hostile-image set (issue 16: peak worker RSS ≤ 400 MB).

    .venv/bin/python benchmarks/worker_memory.py            # about a minute; --batch-size 8 (the default setting)

Embedded SeaweedFS, Redis and SQLite; the shipped models registered; one garden camera on a rice plot. Every case of
``tests/security/test_hostile_images.py`` (decompression bombs, lying headers, polyglots, EXIF bombs, a 6000×6000
PNG under the pixel cap, 20000×1 strips...) is stored as a capture the way the worker meets it when nothing checked
it before (its bytes in S3, the row `stored`), plus real rice-pest photos around them. One ``cropwatch worker``
process (``--concurrency 1``) takes them from the queue in batches of ``--batch-size``; its main process and its pool
process are sampled every 20 ms. Prints the pool process's RSS after warm-up and at its peak, the main process's,
and how each case ended.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "security")]

TARGET_MB = 400


class Sampler(threading.Thread):
    """Peak RSS (MB) of a process and of its children, every ``every`` s."""

    def __init__(self, pid: int, every: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.main_peak = self.pool_peak = 0.0
        self.pool_now = 0.0
        self.stop_flag = threading.Event()

    def run(self) -> None:
        root = psutil.Process(self.pid)
        while not self.stop_flag.wait(self.every):
            try:
                self.main_peak = max(self.main_peak, root.memory_info().rss / 2**20)
                kids = root.children(recursive=True)
                self.pool_now = max((k.memory_info().rss / 2**20 for k in kids), default=0.0)
                self.pool_peak = max(self.pool_peak, self.pool_now)
            except psutil.Error:
                pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--photos", type=int, default=16, help="real photos mixed in with the hostile cases")
    ap.add_argument("--cases", default="", help="only the hostile cases whose id contains this (none: 'none')")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cw-mem-"))
    from test_hostile_images import CASES

    from cropwatch.core.db import session_factory
    from cropwatch.core.enums import CameraKind, CaptureStatus, ModelTask
    from cropwatch.core.migrate import upgrade
    from cropwatch.core.orm import Camera, Capture, Cooperative, Farm, Plot
    from cropwatch.core.queue import enqueue_detect, make_celery
    from cropwatch.core.settings import Settings
    from cropwatch.core.storage import Storage
    from cropwatch.embedded import EmbeddedRedis, EmbeddedS3, free_port
    from models import registry

    s3 = EmbeddedS3(work / "s3", s3_port=free_port(), access_key="bench", secret_key="bench-secret").start()
    redis = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="cwr-"))).start()
    settings = Settings(
        _env_file=None,
        environment="development",
        data_dir=work / "data",
        database_url=f"sqlite:///{work / 'cropwatch.db'}",
        broker_url=redis.url,
        s3_endpoint=s3.endpoint,
        s3_access_key="bench",
        s3_secret_key="bench-secret",
        s3_bucket=f"mem-{int(time.time())}",
        batch_size=args.batch_size,
    )
    worker = None
    try:
        upgrade(settings.db_url)
        storage = Storage(settings)
        storage.ensure_bucket()
        sessions = session_factory(settings.db_url)
        photos = sorted((ROOT.parent / "shared" / "datasets" / "rice-pests" / "images" / "test").glob("*.jpg"))
        cases = [c for c in CASES if args.cases in c.id]
        items = [(c.id, c.make()[0]) for c in cases] + [(p.name, p.read_bytes()) for p in photos[: args.photos]]
        ids: dict[int, str] = {}
        with sessions.begin() as s:
            registry.bootstrap(s, storage)
            coop = Cooperative(code=f"mem{int(time.time())}", name="HTX đo bộ nhớ")
            s.add(coop)
            s.flush()
            farm = Farm(cooperative_id=coop.id, name="farm")
            s.add(farm)
            s.flush()
            plot = Plot(cooperative_id=coop.id, farm_id=farm.id, name="Lô 1", crop="lúa")
            s.add(plot)
            s.flush()
            cam = Camera(
                cooperative_id=coop.id,
                plot_id=plot.id,
                name="cam",
                kind=CameraKind.garden,
                model_task=ModelTask.pest,
                token_hash="x" * 64,
            )
            s.add(cam)
            s.flush()
            now = dt.datetime.now(dt.timezone.utc)
            for i, (name, data) in enumerate(items):
                key = f"raw/{coop.id}/{cam.id}/mem/{i}.bin"
                storage.put_bytes(key, data)
                cap = Capture(
                    cooperative_id=coop.id,
                    camera_id=cam.id,
                    plot_id=plot.id,
                    object_key=key,
                    sha256=f"{i:064x}",
                    size_bytes=len(data),
                    captured_at=now,
                    received_at=now,
                    status=CaptureStatus.stored,
                )
                s.add(cap)
                s.flush()
                ids[cap.id] = name
        env = {k: v for k, v in os.environ.items() if not k.startswith("CROPWATCH_")}
        env.update(
            {
                "CROPWATCH_ENVIRONMENT": "development",
                "CROPWATCH_DATA_DIR": str(settings.data_dir),
                "CROPWATCH_DATABASE_URL": settings.db_url,
                "CROPWATCH_BROKER_URL": redis.url,
                "CROPWATCH_S3_ENDPOINT": s3.endpoint,
                "CROPWATCH_S3_ACCESS_KEY": "bench",
                "CROPWATCH_S3_SECRET_KEY": "bench-secret",
                "CROPWATCH_S3_BUCKET": settings.s3_bucket,
                "CROPWATCH_BATCH_SIZE": str(args.batch_size),
            }
        )
        log = open(work / "worker.log", "w")
        worker = subprocess.Popen(
            [sys.executable, "-m", "cropwatch.cli", "worker", "--queues", "inference", "--concurrency", "1"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        sampler = Sampler(worker.pid)
        sampler.start()
        time.sleep(12)  # the pool process starts and loads the production models
        warm_pool, warm_main = sampler.pool_now, sampler.main_peak
        app = make_celery(settings)
        for cid in ids:
            enqueue_detect(cid, celery_app=app)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            with sessions() as s:
                left = s.query(Capture).filter(Capture.status.in_([CaptureStatus.stored, CaptureStatus.processing]))
                if left.count() == 0:
                    break
            time.sleep(0.5)
        sampler.stop_flag.set()
        with sessions() as s:
            ended = {ids[c.id]: (c.status.value, (c.error or "").split(":")[0]) for c in s.query(Capture)}
        print(f"\n{len(cases)} hostile cases + {args.photos} real photos, batches of {args.batch_size}, one worker")
        print("| worker RSS | MB | target |\n|---|---:|---:|")
        print(f"| pool process after warm-up (models loaded) | {warm_pool:.0f} | |")
        print(f"| pool process, peak through the set | {sampler.pool_peak:.0f} | ≤ {TARGET_MB} |")
        print(f"| main (Celery) process, peak | {sampler.main_peak:.0f} | |")
        print(f"| both together, peak (shared pages counted twice) | {sampler.pool_peak + sampler.main_peak:.0f} | |")
        print(f"(main process after warm-up: {warm_main:.0f} MB)")
        print("\noutcomes:", dict(Counter(st for st, _ in ended.values())))
        for name, (st, why) in sorted(ended.items()):
            print(f"  {name}: {st}{' ' + why if why else ''}")
        print(f"\nrun folder: {work}")
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, 15)
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, 9)
        redis.stop()
        s3.stop()


if __name__ == "__main__":
    main()
