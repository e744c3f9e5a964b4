"""End-to-end load benchmark: simulated cameras → presigned upload → detections stored → alerts evaluated.

    .venv/bin/python benchmarks/e2e.py --rate 15 --duration 300 --workers 1
    .venv/bin/python benchmarks/e2e.py --rate 15 --duration 300 --workers 2
    .venv/bin/python benchmarks/e2e.py --rates 10,15,20,25,30,35,40 --step-seconds 60 --duration 120 --workers 2

Starts the embedded stack (SeaweedFS, Redis, SQLite) unless --database-url/--broker-url/--s3-endpoint point at a
production-like one, an API process and N Celery worker processes serving the INT8 pest model, then N camera
threads upload real rice-pest photos (each made unique with a JPEG comment, so no two are the same capture) at a
fixed total rate. Prints: sustained captures/s end to end, latency from upload confirmation to detections stored
(p50/p95/p99, server clock), the farmer's alert-list latency during the load (p50/p95), queue depth over time,
CPU (% of a core and ms per capture) and peak memory of every process, and the lost/duplicate count by sha256.
Also writes the figures as JSON.

With ``--rates`` the offered rate steps up, ``--step-seconds`` each on the same stack; a step holds when every upload
was taken, nothing was lost, duplicated or failed, and its backlog drained within 10 s of the step's end. The
sustained rate is the highest step that held (the first that did not ends the stepping); then ``--duration`` s at
``--confirm-fraction`` (0.8) of it give the latency figures the targets are read at. Cameras are garden cameras on
rice plots (the shipped rice model reads each photo whole) unless ``--camera-kind sticky_trap``.
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

import sampling  # noqa: E402  (benchmarks/sampling.py, beside this file)

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
    ap.add_argument(
        "--slots",
        default="direct",
        choices=["direct", "legacy"],
        help="direct: the agents' default (S3 checks the sha256, no copy on confirm); legacy: incoming/ + copy",
    )
    ap.add_argument(
        "--rates",
        type=lambda v: [float(x) for x in v.split(",")],
        help="step the offered rate through these (e.g. 20,25,30,35,40): the sustained rate is the highest step that "
        "holds; then --duration s at --confirm-fraction of it",
    )
    ap.add_argument(
        "--profile",
        action="store_true",
        help="sample the API and the first worker with py-spy and print their CPU per capture by step",
    )
    ap.add_argument(
        "--layout",
        default="embedded",
        choices=["embedded", "distributed"],
        help="embedded: weed mini, Redis, SQLite unless given; distributed: a SeaweedFS cluster (master, 2 volume "
        "servers replicating 001, filer, S3 gateway) and a private RabbitMQ node (unless --broker-url), on "
        "--database-url (PostgreSQL)",
    )
    ap.add_argument("--apis", type=int, default=1, help="API processes (cameras spread over them)")
    ap.add_argument("--step-seconds", type=float, default=60.0)
    ap.add_argument("--confirm-fraction", type=float, default=0.8)
    ap.add_argument(
        "--camera-kind",
        default="garden",
        choices=["garden", "sticky_trap"],
        help="garden: the rice model reads each photo whole (the shipped pest model); sticky_trap: the trap model "
        "over windows",
    )
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cw-e2e-"))
    configure_ultralytics(work / "ultralytics")
    from sqlalchemy import func, select

    from cropwatch.core.db import session_factory
    from cropwatch.core.enums import CameraKind, ModelTask, Role
    from cropwatch.core.migrate import upgrade
    from cropwatch.core.orm import Camera, Capture, Cooperative, Farm, Membership, Plot, User
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
    cluster_procs: dict[str, int] = {}
    if args.layout == "distributed":
        from cropwatch.cluster import PrivateRabbitMQ, SeaweedFSCluster, quiet_port

        if not args.database_url:
            raise SystemExit("--layout distributed runs on PostgreSQL: give --database-url postgresql+psycopg://…")
        cluster = SeaweedFSCluster(
            work / "seaweedfs", s3_port=quiet_port(), access_key="bench", secret_key="bench-secret"
        ).start()
        servers.append(cluster)
        s3_endpoint, access, secret = cluster.endpoint, "bench", "bench-secret"
        cluster_procs = {f"seaweedfs {k}": pid for k, pid in cluster.pids.items()}
        if not args.broker_url:
            rabbit = PrivateRabbitMQ(work / "rabbitmq").start()
            servers.append(rabbit)
            args.broker_url = rabbit.url
            cluster_procs["rabbitmq"] = rabbit.pid
    if not s3_endpoint:
        s3 = EmbeddedS3(work / "s3", s3_port=free_port(), access_key="bench", secret_key="bench-secret").start()
        servers.append(s3)
        s3_endpoint, access, secret = s3.endpoint, "bench", "bench-secret"
    broker = args.broker_url
    heartbeat_redis = None
    if broker and broker.startswith("amqp"):  # heartbeats and rate limits stay on a Redis beside RabbitMQ
        hb = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="cwr-"))).start()
        servers.append(hb)
        heartbeat_redis = hb.url
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
                    kind=CameraKind(args.camera_kind),
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
        | ({"CROPWATCH_HEARTBEAT_REDIS_URL": heartbeat_redis} if heartbeat_redis else {})
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

    api_ports = [port] + [free_port() for _ in range(args.apis - 1)]
    procs = {("api" if i == 0 else f"api{i + 1}"): spawn("api", "--port", str(p)).pid for i, p in enumerate(api_ports)}
    for w in range(args.workers):
        procs[f"worker{w + 1}"] = spawn("worker", "--queues", "inference,maintenance", "--loglevel", "WARNING").pid
    # the sweeper, as in production: it re-queues a capture whose worker claim lapsed (a 20-minute soak without it
    # ended with 1 of 12,000 captures left `processing`)
    procs["beat"] = spawn("beat", "--loglevel", "WARNING").pid
    for srv in servers:
        if isinstance(srv, (EmbeddedS3, EmbeddedRedis)):
            name = "s3" if isinstance(srv, EmbeddedS3) else ("redis" if "redis" not in procs else "redis (heartbeats)")
            procs[name] = srv.proc.pid
    procs.update(cluster_procs)
    if db_url.startswith(
        "postgresql"
    ):  # the server's CPU too, when it runs on this machine (its backends are children)
        postmaster = next(
            (
                p
                for p in psutil.process_iter(["name", "ppid"])
                if p.info["name"] in ("postgres", "postmaster") and p.info["ppid"] in (0, 1)
            ),
            None,
        )
        if postmaster is not None:
            procs["postgresql (whole server)"] = postmaster.pid
    procs["cameras (this script)"] = os.getpid()
    bases = [f"http://127.0.0.1:{p}" for p in api_ports]
    deadline = time.monotonic() + 90
    for b in bases:
        while True:
            try:
                if httpx.get(b + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"API did not start; see {work / 'stack.log'}")
            time.sleep(0.5)
    time.sleep(5)  # workers load the model

    photos = sorted((ROOT.parent / "shared" / "datasets" / "rice-pests" / "images" / "test").glob("*.jpg"))
    blobs = [p.read_bytes() for p in photos[:40]]
    watch = ProcWatch(procs)
    watch.start()
    http = urllib3.PoolManager(maxsize=args.cameras + 4, timeout=urllib3.Timeout(connect=5, read=30), retries=False)
    farmer_auth: dict[str, str] = {}

    def call(method: str, url: str, api: int = 0, **kw) -> urllib3.BaseHTTPResponse:
        return http.request(method, url if url.startswith("http") else bases[api % len(bases)] + url, **kw)

    def waiting() -> int:
        with sessions() as s:
            return s.scalar(
                select(func.count())
                .select_from(Capture)
                .where(Capture.cooperative_id == coop_id, Capture.status.in_(["pending", "stored", "processing"]))
            )

    def load(rate: float, duration: float, tag: str, drain_limit: float = 300, profile: bool = False) -> dict:
        """Offer ``rate`` captures/s for ``duration`` s, wait (up to ``drain_limit`` s) for every accepted capture
        to be done, and return the figures of this load alone; ``profile``: py-spy on the API and the first worker
        (its pool included) meanwhile, and their CPU per capture by step."""
        sent: dict[str, int] = {}
        errors: list[str] = []
        lock = threading.Lock()
        stop = threading.Event()

        def camera(i: int, token: str) -> None:
            """One camera: slot, PUT to S3, confirm (urllib3: the load generator shares the 2 cores with the
            stack)."""
            auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            interval = args.cameras / rate
            nxt = time.monotonic() + random.random() * interval
            n = 0
            while not stop.is_set():
                wait = nxt - time.monotonic()
                if wait > 0 and stop.wait(wait):
                    break
                nxt += interval
                data = unique_jpeg(blobs[(i + n) % len(blobs)], f"{tag}-cam{i}-{n}")
                n += 1
                sha = hashlib.sha256(data).hexdigest()
                for attempt in range(5):
                    try:
                        slot = call(
                            "POST",
                            "/api/v1/ingest/slots",
                            i,
                            headers=auth,
                            body=json.dumps(
                                {
                                    "sha256": sha,
                                    "size": len(data),
                                    "captured_at": dt.datetime.now(dt.timezone.utc).isoformat(),
                                    "direct": args.slots == "direct",
                                }
                            ),
                        )
                        if slot.status >= 300:
                            raise RuntimeError(f"slot {slot.status}")
                        body = json.loads(slot.data)
                        if body.get("upload_url"):
                            signed = body.get("upload_headers") or None
                            put = call("PUT", body["upload_url"], body=data, headers=signed)
                            if put.status >= 300 and not (put.status == 412 and signed):  # 412: an earlier try
                                raise RuntimeError(f"put {put.status}")
                        conf = call("POST", f"/api/v1/ingest/captures/{body['capture_id']}/confirm", i, headers=auth)
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
            while not stop.wait(0.5):
                t0 = time.perf_counter()
                r = call("GET", "/api/v1/alerts", headers=farmer_auth)
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
        threads += [
            threading.Thread(target=farmer_reads, daemon=True),
            threading.Thread(target=queue_depth, daemon=True),
        ]
        print(f"load: {rate} captures/s from {args.cameras} cameras for {duration:.0f} s", flush=True)
        spies = {}
        if profile:
            spies = {
                "api": (sampling.start(procs["api"], work / f"{tag}-api.txt"), work / f"{tag}-api.txt"),
                "worker1": (
                    sampling.start(procs["worker1"], work / f"{tag}-worker1.txt", children=True),
                    work / f"{tag}-worker1.txt",
                ),
            }
        cpu0 = {k: watch.cpu(k) for k in procs}
        t_load = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(duration)
        stop.set()
        for t in threads[:-2]:
            t.join(60)
        load_s = time.monotonic() - t_load
        drain_deadline = time.monotonic() + drain_limit
        while waiting() and time.monotonic() < drain_deadline:
            time.sleep(0.5)
        total_s = time.monotonic() - t_load
        cpu = {k: watch.cpu(k) - cpu0[k] for k in procs}
        for spy, _ in spies.values():
            sampling.stop(spy)
        with sessions() as s:
            rows = s.execute(
                select(Capture.sha256, Capture.status, Capture.received_at, Capture.processed_at).where(
                    Capture.cooperative_id == coop_id
                )
            ).all()
        by_sha: dict[str, int] = {}
        for sha, *_ in rows:
            by_sha[sha] = by_sha.get(sha, 0) + 1
        mine = [r for r in rows if r.sha256 in sent]
        done = [r for r in mine if r.status.value == "done"]
        failed = [r for r in mine if r.status.value == "failed"]
        lat = [
            (r.processed_at - r.received_at).total_seconds() * 1000 for r in done if r.processed_at and r.received_at
        ]
        lost = [sha for sha in sent if sha not in by_sha]
        dupes = [sha for sha, n in by_sha.items() if n > 1]
        per_capture = {k: round(1000 * v / max(1, len(done)), 1) for k, v in cpu.items()}
        figures = {
            "rate_target": rate,
            "duration_s": round(load_s, 1),
            "drain_s": round(total_s - load_s, 1),
            "workers": args.workers,
            "variant": args.variant,
            "cameras": args.cameras,
            "slots": args.slots,
            "accepted": len(sent),
            "done": len(done),
            "failed": len(failed),
            "left_waiting": waiting(),
            "upload_errors": len(errors),
            "lost": len(lost),
            "duplicates": len(dupes),
            "sustained_captures_per_s": round(len(done) / total_s, 2),
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
            "cpu_ms_per_capture": per_capture,
            "peak_rss_mb": {k: round(v) for k, v in watch.peak.items()},
            "rss_mb_every_30_s": list(watch.series),
            "machine": f"{psutil.cpu_count()} cores",
        }
        if spies:
            figures["profile"] = profile_split(spies, done_by_worker1=_done_by(procs, cpu, len(done)), n=len(done))
        if errors:
            print("upload errors (first 5):", errors[:5])
        return figures

    tok = json.loads(
        call(
            "POST",
            "/api/v1/auth/token",
            fields={"username": farmer_name, "password": "bench-password"},
            encode_multipart=False,
        ).data
    )
    farmer_auth["Authorization"] = f"Bearer {tok['access_token']}"
    try:
        if args.rates:
            report = stepped(load, args)
        else:
            report = load(args.rate, args.duration, "run", profile=args.profile)
        print(json.dumps(report, indent=1, ensure_ascii=False))
        if args.json:
            args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    finally:
        watch.stop_flag.set()
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


def _done_by(procs: dict, cpu: dict, done: int) -> float:
    """Captures the first worker did, estimated from its share of all workers' CPU (they share one queue)."""
    workers = [k for k in procs if k.startswith("worker")]
    total = sum(cpu[k] for k in workers)
    return done * cpu["worker1"] / total if total else 0.0


def profile_split(spies: dict, *, done_by_worker1: float, n: int) -> dict:
    """CPU ms per capture by step, from py-spy's samples (a sample: 1/RATE s of one thread's CPU)."""
    out = {}
    for name, (_, path) in spies.items():
        steps = sampling.API_STEPS if name == "api" else sampling.WORKER_STEPS
        rest = sampling.API_REST if name == "api" else sampling.WORKER_REST
        per = n if name == "api" else done_by_worker1
        out[name] = {
            label: round(samples * 1000 / sampling.RATE / per, 2) if per else None
            for label, _, samples in sampling.split(path, steps, rest)
        }
        print(f"\n| {name}: step (py-spy) | CPU ms per capture |\n|---|---:|")
        for label, ms in out[name].items():
            print(f"| {label} | {ms} |")
    return out


def holds(step: dict, *, drain_s: float = 10.0) -> bool:
    """Whether the box kept up with a step: it took every upload offered (≥ 97%), lost and duplicated none, failed
    none, and finished the step's backlog within ``drain_s`` of the load stopping (a queue that grew during the
    step would take longer)."""
    return (
        step["accepted_per_s"] >= 0.97 * step["rate_target"]
        and step["lost"] == 0
        and step["duplicates"] == 0
        and step["failed"] == 0
        and step["left_waiting"] == 0
        and step["drain_s"] <= drain_s
    )


def stepped(load, args) -> dict:
    """Step the offered rate up (``--rates``, ``--step-seconds`` each) until a step does not hold; the sustained rate
    is the highest step that held. Then ``--duration`` s at ``--confirm-fraction`` of it: the latency target's
    run."""
    steps, sustained = [], None
    for rate in args.rates:
        step = load(rate, args.step_seconds, f"step{rate:g}", drain_limit=120)
        step["held"] = holds(step)
        steps.append(step)
        print(
            f"step {rate:g}/s: accepted {step['accepted_per_s']}/s, drained in {step['drain_s']} s, p95 "
            f"{step['latency_ms']['p95']} ms, CPU ms per capture {step['cpu_ms_per_capture']}: "
            f"{'held' if step['held'] else 'did not hold'}",
            flush=True,
        )
        if not step["held"]:
            break
        sustained = rate
    report: dict = {"steps": steps, "sustained_captures_per_s": sustained}
    if sustained:
        at = round(args.confirm_fraction * sustained, 1)
        confirm = load(at, args.duration, "confirm", profile=args.profile)
        report["at_fraction"] = {"fraction": args.confirm_fraction, **confirm}
    return report


if __name__ == "__main__":
    main()
