"""What one capture costs besides the model, step by step: API, object storage and worker CPU per capture.

    .venv/bin/python benchmarks/capture_cost.py                 # about 2 minutes; --captures 200 --variant fp32

Embedded SeaweedFS and Redis and SQLite (or --database-url), the API as its own `cropwatch api` process, one
garden camera on a rice plot (its photos are read whole: the shipped rice model). Phase 1 uploads ``--captures``
unique real rice-pest photos as a camera does (slot, presigned PUT, confirm, which queues the detection on Redis) and
reads the CPU time the API process and the SeaweedFS process spent, per capture. Phase 2 (the API stopped) runs the
worker's pipeline in this process on those captures, in batches of ``CROPWATCH_BATCH_SIZE`` as a worker does, under
cProfile with a CPU clock (``time.process_time``: the onnxruntime threads' CPU counts inside the call that waited
for them), and prints the worker's CPU per capture split by step: claim, object storage read, decode, the detector
(pre-processing, forward pass, post-processing), storing the detections, the alert rules, the diary, the rest.
Celery's own receive/ack per task is not in phase 2 (benchmarks/e2e.py measures whole worker processes).

Figures measured while another job uses the CPU are inflated; the split is still where the time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import hashlib
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sampling  # noqa: E402  (benchmarks/sampling.py, beside this file)

#: (label, module path fragment, function name) of the steps; cumulative CPU of each, per capture
STEPS = (
    ("claim (database)", "cropwatch/worker/pipeline.py", "_claim_many"),
    ("object storage read", "cropwatch/core/storage.py", "get_bytes"),
    ("decode", "inference/decode.py", "decode_reduced"),
    ("detector: pre + forward + post", "inference/detector.py", "predict_batch"),
    ("store detections", "cropwatch/captures/results.py", "store_detections"),
    ("alert rules", "cropwatch/alerts/rules.py", "evaluate"),
    ("diary observation", "cropwatch/diary/entries.py", "automatic_observation"),
)
TARGETS = {"worker_excl_forward": 8.0, "api": 6.0, "s3": 5.0}


def unique_jpeg(data: bytes, tag: str) -> bytes:
    """The same picture with a COM segment after SOI: a valid JPEG with a different sha256."""
    payload = tag.encode()
    return data[:2] + b"\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload + data[2:]


def cpu_seconds(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--captures", type=int, default=200)
    ap.add_argument("--variant", default="fp32", choices=["fp32", "int8"], help="the worker's model file")
    ap.add_argument("--database-url", help="default: SQLite in a temporary folder")
    ap.add_argument(
        "--slots",
        default="direct",
        choices=["direct", "legacy"],
        help="direct: PUT to the final key, S3 checks the sha256 (the agents' default); legacy: incoming/ + copy",
    )
    ap.add_argument(
        "--profile-api",
        action="store_true",
        help="sample the API process with py-spy during the uploads and print where its CPU goes",
    )
    ap.add_argument("--top", type=int, default=0, help="also print the N functions with the most own CPU time")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cw-cost-"))
    from cropwatch.core.db import session_factory
    from cropwatch.core.enums import CameraKind, ModelTask
    from cropwatch.core.migrate import upgrade
    from cropwatch.core.orm import Camera, Capture, Cooperative, Farm, Plot
    from cropwatch.core.security import new_token, token_hash
    from cropwatch.core.settings import Settings
    from cropwatch.core.storage import Storage
    from cropwatch.embedded import EmbeddedRedis, EmbeddedS3, free_port
    from cropwatch.seed import default_rules
    from cropwatch.worker.pipeline import CaptureProcessor, Outcome
    from models import registry

    s3 = EmbeddedS3(work / "s3", s3_port=free_port(), access_key="bench", secret_key="bench-secret").start()
    redis = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="cwr-"))).start()
    settings = Settings(
        _env_file=None,
        environment="development",
        data_dir=work / "data",
        database_url=args.database_url or f"sqlite:///{work / 'cropwatch.db'}",
        broker_url=redis.url,
        s3_endpoint=s3.endpoint,
        s3_access_key="bench",
        s3_secret_key="bench-secret",
        s3_bucket=f"cost-{int(time.time())}",
        model_variant=args.variant,
        camera_requests_per_minute=0,
    )
    api = None
    try:
        upgrade(settings.db_url)
        storage = Storage(settings)
        storage.ensure_bucket()
        sessions = session_factory(settings.db_url)
        with sessions.begin() as s:
            registry.bootstrap(s, storage)
            coop = Cooperative(code=f"cost{int(time.time())}", name="HTX đo chi phí")
            s.add(coop)
            s.flush()
            farm = Farm(cooperative_id=coop.id, name="farm")
            s.add(farm)
            s.flush()
            plot = Plot(cooperative_id=coop.id, farm_id=farm.id, name="Lô 1", crop="lúa")
            s.add(plot)
            s.flush()
            token = new_token("cam")
            s.add(
                Camera(
                    cooperative_id=coop.id,
                    plot_id=plot.id,
                    name="cam",
                    kind=CameraKind.garden,
                    model_task=ModelTask.pest,
                    token_hash=token_hash(token),
                )
            )
            default_rules(s, coop.id)
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
                "CROPWATCH_CAMERA_REQUESTS_PER_MINUTE": "0",
            }
        )
        port = free_port()
        log = open(work / "api.log", "w")
        api = subprocess.Popen(
            [sys.executable, "-m", "cropwatch.cli", "api", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or api.poll() is not None:
                raise SystemExit(f"the API did not start; see {work / 'api.log'}")
            time.sleep(0.3)
        photos = sorted((ROOT.parent / "shared" / "datasets" / "rice-pests" / "images" / "test").glob("*.jpg"))
        blobs = [p.read_bytes() for p in photos]
        auth = {"Authorization": f"Bearer {token}"}
        client = httpx.Client(timeout=30)
        for i in range(5):  # warm-up (imports, first connections), not counted
            data = unique_jpeg(blobs[i % len(blobs)], f"warm-{i}")
            _upload(client, base, auth, data, args.slots == "direct")
        spy = sampling.start(api.pid, work / "api-stacks.txt") if args.profile_api else None
        api_cpu0, s3_cpu0, t0 = cpu_seconds(api.pid), cpu_seconds(s3.proc.pid), time.perf_counter()
        for i in range(args.captures):
            _upload(client, base, auth, unique_jpeg(blobs[i % len(blobs)], f"cost-{i}"), args.slots == "direct")
        upload_wall = time.perf_counter() - t0
        api_ms = (cpu_seconds(api.pid) - api_cpu0) * 1000 / args.captures
        s3_upload_ms = (cpu_seconds(s3.proc.pid) - s3_cpu0) * 1000 / args.captures
        if spy is not None:
            sampling.stop(spy)
        api.terminate()
        api.wait(20)
        api = None

        with sessions() as s:
            ids = list(s.scalars(Capture.__table__.select().with_only_columns(Capture.id).order_by(Capture.id)))
        warm, ids = ids[:5], ids[5:]
        processor = CaptureProcessor(settings, sessions, storage)
        for cid in warm:  # loads the model (and fetches its file), not counted
            processor.process(cid)
        batch = max(1, settings.batch_size)
        profile = cProfile.Profile(time.process_time)
        s3_cpu0, cpu0, wall0 = cpu_seconds(s3.proc.pid), time.process_time(), time.perf_counter()
        outcomes = []
        profile.enable()
        for k in range(0, len(ids), batch):
            outcomes += processor.process_many(ids[k : k + batch]).values()
        profile.disable()
        worker_ms = (time.process_time() - cpu0) * 1000 / len(ids)
        worker_wall = time.perf_counter() - wall0
        s3_read_ms = (cpu_seconds(s3.proc.pid) - s3_cpu0) * 1000 / len(ids)
        done = sum(r.outcome == Outcome.done for r in outcomes)
        stats = pstats.Stats(profile)
        split = {}
        for label, fragment, name in STEPS:
            split[label] = (
                sum(
                    v[3]
                    for (path, _, fn), v in stats.stats.items()  # v[3]: cumulative seconds
                    if fn == name and path.replace(os.sep, "/").endswith(fragment)
                )
                * 1000
                / len(ids)
            )
        forward = split["detector: pre + forward + post"]
        print(
            f"\n{args.captures} captures, model file {args.variant}, batches of {batch}, {args.slots} slots; {done} of {len(ids)} done"
        )
        print(f"upload phase {upload_wall:.1f} s wall ({args.captures / upload_wall:.1f}/s, one camera in turn); "
              f"worker phase {worker_wall:.1f} s wall ({len(ids) / worker_wall:.1f}/s)\n")  # fmt: skip
        print("| per capture | CPU ms | target |")
        print("|---|---:|---:|")
        print(f"| API process: slot + confirm (+ queue publish) | {api_ms:.1f} | ≤ {TARGETS['api']:.0f} |")
        print(f"| SeaweedFS: upload (PUT) | {s3_upload_ms:.1f} | |")
        print(f"| SeaweedFS: the worker's read | {s3_read_ms:.1f} | |")
        print(f"| SeaweedFS, both | {s3_upload_ms + s3_read_ms:.1f} | ≤ {TARGETS['s3']:.0f} |")
        print(f"| worker, all | {worker_ms:.1f} | |")
        print(f"| worker without the detector | {worker_ms - forward:.1f} | ≤ {TARGETS['worker_excl_forward']:.0f} |")
        if spy is not None:
            print("\n| API step (py-spy samples, innermost match) | CPU ms per capture | share |")
            print("|---|---:|---:|")
            for label, share, _ in sampling.split(work / "api-stacks.txt", sampling.API_STEPS, sampling.API_REST):
                print(f"| {label} | {share * api_ms:.2f} | {share:.0%} |")
        print("\n| worker step (cumulative, per capture) | CPU ms | share |")
        print("|---|---:|---:|")
        for label, ms in split.items():
            print(f"| {label} | {ms:.2f} | {ms / worker_ms:.0%} |")
        nested = ("store detections", "alert rules", "diary observation")
        accounted = sum(ms for label, ms in split.items())
        rest = worker_ms - accounted
        print(f"| the rest (sessions, ORM, result bookkeeping) | {rest:.2f} | {rest / worker_ms:.0%} |")
        print(f"\n(the {', '.join(nested)} rows are separate steps of one transaction; none is nested in another)")
        if args.top:
            print(f"\nthe {args.top} functions with the most own CPU time (phase 2):")
            stats.sort_stats("tottime").print_stats(args.top)
        print(f"run folder: {work}")
    finally:
        if api is not None and api.poll() is None:
            api.terminate()
        redis.stop()
        s3.stop()


def _upload(client: httpx.Client, base: str, auth: dict, data: bytes, direct: bool) -> None:
    slot = client.post(
        f"{base}/api/v1/ingest/slots",
        headers=auth,
        json={
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "captured_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            "direct": direct,
        },
    )
    slot.raise_for_status()
    body = slot.json()
    headers = {"Content-Type": "application/octet-stream", **body.get("upload_headers", {})}
    put = client.put(body["upload_url"], content=data, headers=headers)
    put.raise_for_status()
    client.post(f"{base}/api/v1/ingest/captures/{body['capture_id']}/confirm", headers=auth).raise_for_status()


if __name__ == "__main__":
    main()
