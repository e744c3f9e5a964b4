"""End-to-end load benchmark: simulated cameras → presigned upload → detections stored → alerts evaluated.

    .venv/bin/python benchmarks/e2e.py --rate 15 --duration 300 --workers 1
    .venv/bin/python benchmarks/e2e.py --rate 15 --duration 300 --workers 2

Starts the embedded stack (SeaweedFS, Redis, SQLite) unless --database-url/--broker-url/--s3-endpoint point at a
production-like one, an API process and N Celery worker processes serving the INT8 pest model, then N camera
threads upload real rice-pest photos (each made unique with a JPEG comment, so no two are the same capture) at a
fixed total rate. Prints: sustained captures/s end to end, latency from upload confirmation to detections stored
(p50/p95/p99, server clock), the farmer's alert-list latency during the load (p50/p95), queue depth over time,
CPU and peak memory of every process, and the lost/duplicate count by sha256. Also writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil
import urllib3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from training.ultralytics_env import configure_ultralytics  # noqa: E402


def unique_jpeg(data: bytes, tag: str) -> bytes:
    """The same picture with a COM segment after SOI: a valid JPEG with a different sha256."""
    payload = tag.encode()
    return data[:2] + b"\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload + data[2:]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


class ProcWatch(threading.Thread):
    """CPU seconds and peak RSS of named process trees, sampled every second."""

    def __init__(self, procs: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.procs = procs
        self.peak: dict[str, float] = {k: 0.0 for k in procs}
        self.series: list[tuple[int, dict[str, int]]] = []  # (seconds, {process: RSS MB}) every 30 s
        self.t0 = time.monotonic()
        self.cpu0: dict[str, float] = {}
        self.stop_flag = threading.Event()

    def _tree(self, pid: int) -> list[psutil.Process]:
        try:
            p = psutil.Process(pid)
            if pid == os.getpid():  # the load generator itself, not the stack it started
                return [p]
            return [p, *p.children(recursive=True)]
        except psutil.Error:
            return []

    def cpu(self, name: str) -> float:
        """CPU seconds of the tree: live processes, plus what the root's exited children used (a worker's pool
        processes are replaced now and then)."""
        total = 0.0
        tree = self._tree(self.procs[name])
        for i, p in enumerate(tree):
            try:
                t = p.cpu_times()
                total += t.user + t.system
                if i == 0 and p.pid != os.getpid():
                    total += t.children_user + t.children_system
            except psutil.Error:
                pass
        return total

    def run(self) -> None:
        next_sample = 0.0
        while not self.stop_flag.wait(1.0):
            now = {}
            for name, pid in self.procs.items():
                rss = 0
                for p in self._tree(pid):
                    try:
                        rss += p.memory_info().rss
                    except psutil.Error:
                        pass
                now[name] = round(rss / 2**20)
                self.peak[name] = max(self.peak[name], rss / 2**20)
            elapsed = time.monotonic() - self.t0
            if elapsed >= next_sample:
                self.series.append((round(elapsed), now))
                next_sample += 30


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=15.0, help="captures per second, all cameras together")
    ap.add_argument("--duration", type=float, default=300.0, help="seconds of load")
    ap.add_argument("--cameras", type=int, default=30)
    ap.add_argument("--workers", type=int, default=1, help="Celery worker processes")
    ap.add_argument("--variant", default="int8", choices=["int8", "fp32"])
    ap.add_argument("--database-url")
    ap.add_argument("--broker-url")
    ap.add_argument("--s3-endpoint")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cw-e2e-"))
    configure_ultralytics(work / "ultralytics")
    from sqlalchemy import func, select

    from cropwatch.core.db import session_factory
    from cropwatch.core.enums import CameraKind, ModelTask, Role
    from cropwatch.core.migrate import upgrade
    from cropwatch.core.orm import Camera, Capture, Cooperative, Farm, InferenceRun, Membership, Plot, User
    from cropwatch.core.security import hash_password, new_token, token_hash
    from cropwatch.core.settings import Settings
    from cropwatch.core.storage import Storage
    from cropwatch.embedded import EmbeddedRedis, EmbeddedS3, free_port
    from cropwatch.seed import default_rules
    from models import registry

    children: list[subprocess.Popen] = []
    servers = []
    s3_endpoint, access, secret = (
        args.s3_endpoint,
        os.environ.get("CROPWATCH_S3_ACCESS_KEY", "cropwatch"),
        os.environ.get("CROPWATCH_S3_SECRET_KEY", "cropwatch-dev-secret"),
    )
    if not s3_endpoint:
        s3 = EmbeddedS3(work / "s3", s3_port=free_port(), access_key="bench", secret_key="bench-secret").start()
        servers.append(s3)
        s3_endpoint, access, secret = s3.endpoint, "bench", "bench-secret"
    broker = args.broker_url
    if not broker:
        redis = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="cwr-"))).start()
        servers.append(redis)
        broker = redis.url
    db_url = args.database_url or f"sqlite:///{work / 'cropwatch.db'}"
    settings = Settings(
        _env_file=None,
        environment="development",
        data_dir=work / "data",
        database_url=db_url,
        broker_url=broker,
        s3_endpoint=s3_endpoint,
        s3_access_key=access,
        s3_secret_key=secret,
        s3_bucket=f"bench-{int(time.time())}",
        model_variant=args.variant,
        camera_requests_per_minute=0,
    )
    upgrade(settings.db_url)
    storage = Storage(settings)
    storage.ensure_bucket()
    sessions = session_factory(settings.db_url)
    tokens = []
    with sessions.begin() as s:
        registry.bootstrap(s, storage)
        coop = Cooperative(code=f"bench{int(time.time())}", name="HTX đo tải")
        s.add(coop)
        s.flush()
        farmer = User(username=f"{coop.code}-farmer", password_hash=hash_password("bench-password"))
        s.add(farmer)
        s.flush()
        s.add(Membership(user_id=farmer.id, cooperative_id=coop.id, role=Role.member))
        farm = Farm(cooperative_id=coop.id, name="farm")
        s.add(farm)
        s.flush()
        for i in range(args.cameras):
            plot = Plot(cooperative_id=coop.id, farm_id=farm.id, name=f"Lô {i}", crop="lúa")
            s.add(plot)
            s.flush()
            tok = new_token("cam")
            s.add(
                Camera(
                    cooperative_id=coop.id,
                    plot_id=plot.id,
                    name=f"cam {i}",
                    kind=CameraKind.sticky_trap,
                    model_task=ModelTask.pest,
                    token_hash=token_hash(tok),
                )
            )
            tokens.append(tok)
        default_rules(s, coop.id)
        coop_id, farmer_name = coop.id, farmer.username

    env = {k: v for k, v in os.environ.items() if not k.startswith("CROPWATCH_")}
    env.update(
        {
            "CROPWATCH_ENVIRONMENT": "development",
            "CROPWATCH_DATA_DIR": str(settings.data_dir),
            "CROPWATCH_DATABASE_URL": db_url,
            "CROPWATCH_BROKER_URL": broker,
            "CROPWATCH_S3_ENDPOINT": s3_endpoint,
            "CROPWATCH_S3_ACCESS_KEY": access,
            "CROPWATCH_S3_SECRET_KEY": secret,
            "CROPWATCH_S3_BUCKET": settings.s3_bucket,
            "CROPWATCH_MODEL_VARIANT": args.variant,
            "CROPWATCH_CAMERA_REQUESTS_PER_MINUTE": "0",
            "CROPWATCH_ONNX_PARALLEL": "1" if args.workers > 1 else "2",
            "PYTHONUNBUFFERED": "1",
        }
    )
    port = free_port()
    logs = open(work / "stack.log", "w")
    py = sys.executable

    def spawn(*cli: str) -> subprocess.Popen:
        p = subprocess.Popen(
            [py, "-m", "cropwatch.cli", *cli],
            env=env,
            cwd=ROOT,
            stdout=logs,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        children.append(p)
        return p

    procs = {"api": spawn("api", "--port", str(port)).pid}
    for w in range(args.workers):
        procs[f"worker{w + 1}"] = spawn("worker", "--queues", "inference,maintenance", "--loglevel", "WARNING").pid
    # the sweeper, as in production: it re-queues a capture whose worker claim lapsed (a 20-minute soak without it
    # ended with 1 of 12,000 captures left `processing`)
    procs["beat"] = spawn("beat", "--loglevel", "WARNING").pid
    for srv in servers:
        name = "s3" if isinstance(srv, EmbeddedS3) else "redis"
        procs[name] = srv.proc.pid
    procs["cameras (this script)"] = os.getpid()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"API did not start; see {work / 'stack.log'}")
        time.sleep(0.5)
    time.sleep(5)  # workers load the model

    photos = sorted((ROOT.parent / "shared" / "datasets" / "rice-pests" / "images" / "test").glob("*.jpg"))
    blobs = [p.read_bytes() for p in photos[:40]]
    sent: dict[str, int] = {}
    errors: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    watch = ProcWatch(procs)
    watch.start()
    cpu0 = {k: watch.cpu(k) for k in procs}

    http = urllib3.PoolManager(maxsize=args.cameras + 4, timeout=urllib3.Timeout(connect=5, read=30), retries=False)

    def call(method: str, url: str, **kw) -> urllib3.BaseHTTPResponse:
        return http.request(method, url if url.startswith("http") else base + url, **kw)

    def camera(i: int, token: str) -> None:
        """One camera: slot, PUT to S3, confirm (urllib3: the load generator shares the 2 cores with the stack)."""
        auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        interval = args.cameras / args.rate
        nxt = time.monotonic() + random.random() * interval
        n = 0
        while not stop.is_set():
            wait = nxt - time.monotonic()
            if wait > 0 and stop.wait(wait):
                break
            nxt += interval
            data = unique_jpeg(blobs[(i + n) % len(blobs)], f"cam{i}-{n}")
            n += 1
            sha = hashlib.sha256(data).hexdigest()
            for attempt in range(5):
                try:
                    slot = call(
                        "POST",
                        "/api/v1/ingest/slots",
                        headers=auth,
                        body=json.dumps(
                            {
                                "sha256": sha,
                                "size": len(data),
                                "captured_at": dt.datetime.now(dt.timezone.utc).isoformat(),
                            }
                        ),
                    )
                    if slot.status >= 300:
                        raise RuntimeError(f"slot {slot.status}")
                    body = json.loads(slot.data)
                    if body.get("upload_url"):
                        put = call("PUT", body["upload_url"], body=data)
                        if put.status >= 300:
                            raise RuntimeError(f"put {put.status}")
                    conf = call("POST", f"/api/v1/ingest/captures/{body['capture_id']}/confirm", headers=auth)
                    if conf.status >= 300:
                        raise RuntimeError(f"confirm {conf.status}")
                    with lock:
                        sent[sha] = body["capture_id"]
                    break
                except (urllib3.exceptions.HTTPError, RuntimeError, KeyError, ValueError) as exc:
                    if attempt == 4:
                        with lock:
                            errors.append(f"cam{i}: {exc}")
                    time.sleep(0.5 * 2**attempt)

    alert_lat: list[float] = []

    def farmer_reads() -> None:
        tok = json.loads(
            call(
                "POST",
                "/api/v1/auth/token",
                fields={"username": farmer_name, "password": "bench-password"},
                encode_multipart=False,
            ).data
        )
        auth = {"Authorization": f"Bearer {tok['access_token']}"}
        while not stop.wait(0.5):
            t0 = time.perf_counter()
            r = call("GET", "/api/v1/alerts", headers=auth)
            if r.status == 200:
                alert_lat.append((time.perf_counter() - t0) * 1000)

    depth: list[tuple[float, int]] = []

    def queue_depth() -> None:
        t_start = time.monotonic()
        while not stop.wait(5):
            with sessions() as s:
                n = s.scalar(
                    select(func.count())
                    .select_from(Capture)
                    .where(Capture.cooperative_id == coop_id, Capture.status.in_(["stored", "processing"]))
                )
            depth.append((round(time.monotonic() - t_start), n))

    threads = [threading.Thread(target=camera, args=(i, t), daemon=True) for i, t in enumerate(tokens)]
    threads += [threading.Thread(target=farmer_reads, daemon=True), threading.Thread(target=queue_depth, daemon=True)]
    print(
        f"load: {args.rate} captures/s from {args.cameras} cameras for {args.duration:.0f} s, "
        f"{args.workers} worker(s), {args.variant} model; stack log {work / 'stack.log'}",
        flush=True,
    )
    t_load = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(args.duration)
    stop.set()
    for t in threads[:-2]:
        t.join(60)
    load_s = time.monotonic() - t_load
    # drain: wait until every accepted capture is done or failed
    drain_deadline = time.monotonic() + 300
    while time.monotonic() < drain_deadline:
        with sessions() as s:
            waiting = s.scalar(
                select(func.count())
                .select_from(Capture)
                .where(Capture.cooperative_id == coop_id, Capture.status.in_(["pending", "stored", "processing"]))
            )
        if not waiting:
            break
        time.sleep(1)
    total_s = time.monotonic() - t_load
    cpu = {k: watch.cpu(k) - cpu0[k] for k in procs}
    watch.stop_flag.set()
    with sessions() as s:
        rows = s.execute(
            select(Capture.sha256, Capture.status, Capture.received_at, Capture.processed_at).where(
                Capture.cooperative_id == coop_id
            )
        ).all()
        runs = s.scalar(select(func.count()).select_from(InferenceRun).where(InferenceRun.cooperative_id == coop_id))
    by_sha: dict[str, int] = {}
    for sha, *_ in rows:
        by_sha[sha] = by_sha.get(sha, 0) + 1
    done = [r for r in rows if r.status.value == "done"]
    failed = [r for r in rows if r.status.value == "failed"]
    lat = [(r.processed_at - r.received_at).total_seconds() * 1000 for r in done if r.processed_at and r.received_at]
    lost = [sha for sha in sent if sha not in by_sha]
    dupes = [sha for sha, n in by_sha.items() if n > 1]
    in_load = [r for r in done if r.processed_at and r.processed_at.timestamp() <= time.time()]
    figures = {
        "rate_target": args.rate,
        "duration_s": round(load_s, 1),
        "drain_s": round(total_s - load_s, 1),
        "workers": args.workers,
        "variant": args.variant,
        "cameras": args.cameras,
        "accepted": len(sent),
        "done": len(done),
        "failed": len(failed),
        "upload_errors": len(errors),
        "lost": len(lost),
        "duplicates": len(dupes),
        "inference_runs": runs,
        "sustained_captures_per_s": round(len(in_load) / total_s, 2),
        "accepted_per_s": round(len(sent) / load_s, 2),
        "latency_ms": {
            "p50": round(pct(lat, 50)),
            "p95": round(pct(lat, 95)),
            "p99": round(pct(lat, 99)),
            "max": round(max(lat)) if lat else None,
        },
        "alert_list_ms": {
            "p50": round(pct(alert_lat, 50), 1),
            "p95": round(pct(alert_lat, 95), 1),
            "n": len(alert_lat),
        },
        "queue_depth": depth,
        "cpu_percent_of_one_core": {k: round(100 * v / total_s, 1) for k, v in cpu.items()},
        "peak_rss_mb": {k: round(v) for k, v in watch.peak.items()},
        "rss_mb_every_30_s": watch.series,
        "machine": f"{psutil.cpu_count()} cores",
    }
    print(json.dumps(figures, indent=1, ensure_ascii=False))
    if errors:
        print("upload errors (first 5):", errors[:5])
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1, ensure_ascii=False))
    for p in children:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for p in children:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
    for srv in servers:
        srv.stop()


if __name__ == "__main__":
    main()
