"""Field agent benchmark: how fast one agent buffers frames (capture → outbox) and uploads them on loopback, and what
it costs in CPU and memory while idle and while draining a backlog.

    .venv/bin/python benchmarks/agent.py [--frames 1000] [--width 1280 --height 720]

It starts what the tests start — SeaweedFS (`weed mini`), a migrated SQLite database, the API under uvicorn in a
thread, a demo cooperative with a camera token — then:

1. buffers ``--frames`` distinct JPEGs (real rice-pest photos resized to ``--width``×``--height``, a few pixels
   changed per frame so every sha256 differs) through ``Agent.process``: decode check, fsync'd file, SQLite insert
   (``synchronous=FULL``); prints frames/s and MB/s;
2. starts the agent as its own process (``python -m camera_agents run``) on an empty outbox and samples its CPU and
   RSS with psutil while idle;
3. starts it on the backlog and samples it until every frame is a stored capture on the server; prints uploads/s
   and the agent's CPU and memory while draining (the server runs in this process, on the same cores).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

PHOTOS = PROJECT.parent / "shared" / "datasets" / "rice-pests" / "images" / "test"


def make_frames(n: int, width: int, height: int) -> list[bytes]:
    import cv2
    import numpy as np

    bases = [
        cv2.resize(cv2.imread(str(p)), (width, height), interpolation=cv2.INTER_LINEAR)
        for p in sorted(PHOTOS.glob("*.jpg"))[:16]
    ]
    if not bases:
        rng = np.random.default_rng(0)
        bases = [rng.integers(0, 255, (height, width, 3), dtype=np.uint8)]
    out: list[bytes] = []
    for i in range(n):
        img = bases[i % len(bases)].copy()
        cv2.putText(img, f"{i:06d}", (16, 48), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)  # distinct
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
        out.append(buf.tobytes())
    return out


def start_server(work: Path):
    import uvicorn

    from api.app import create_app
    from cropwatch.core.db import session_scope
    from cropwatch.core.migrate import upgrade
    from cropwatch.core.settings import Settings
    from cropwatch.core.storage import Storage
    from cropwatch.embedded import EmbeddedS3, free_port
    from cropwatch.seed import seed_demo

    s3 = EmbeddedS3(work / "s3", s3_port=free_port(), access_key="bench", secret_key="bench-secret").start()
    extra = {}
    if "camera_requests_per_minute" in Settings.model_fields:  # measure the agent, not the server's rate limit
        extra["camera_requests_per_minute"] = 0
    settings = Settings(
        _env_file=None,
        environment="test",
        data_dir=work / "server",
        database_url=f"sqlite:///{work / 'cropwatch.db'}",
        s3_endpoint=s3.endpoint,
        s3_access_key="bench",
        s3_secret_key="bench-secret",
        s3_bucket="bench",
        **extra,
    )
    upgrade(settings.db_url)
    Storage(settings).ensure_bucket()
    with session_scope(settings.db_url) as s:
        cams = seed_demo(s, work / "cameras.json")
    app = create_app(settings, enqueue=lambda cid: None, enqueue_training=lambda rid: None)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return s3, server, settings, f"http://127.0.0.1:{port}", cams[0]


def stored_count(db_url: str, camera_id: int) -> int:
    import sqlalchemy as sa

    from cropwatch.core.db import engine_for

    with engine_for(db_url).connect() as c:
        return c.execute(
            sa.text("SELECT COUNT(*) FROM captures WHERE camera_id = :c AND status != 'pending'"), {"c": camera_id}
        ).scalar()


def write_config(path: Path, data_dir: Path, url: str, token: str, drop: Path) -> None:
    path.write_text(f"""
[agent]
data_dir = "{data_dir}"
log_level = "WARNING"
[server]
url = "{url}"
token = "{token}"
[camera]
source = "folder"
path = "{drop}"
poll_s = 5
[outbox]
quota_mb = 100000
min_free_mb = 0
newest_first_above = 100000
[upload]
heartbeat_s = 300
""")


def sample(proc, until, interval: float = 0.5) -> dict:
    import psutil

    p = psutil.Process(proc.pid)
    p.cpu_percent(None)
    cpu, rss = [], []
    while not until():
        time.sleep(interval)
        try:
            cpu.append(p.cpu_percent(None))
            rss.append(p.memory_info().rss / 1024 / 1024)
        except psutil.NoSuchProcess:
            break
    return {
        "cpu_pct_mean": round(statistics.mean(cpu), 1) if cpu else None,
        "cpu_pct_max": round(max(cpu), 1) if cpu else None,
        "rss_mb_mean": round(statistics.mean(rss), 1) if rss else None,
        "rss_mb_max": round(max(rss), 1) if rss else None,
        "samples": len(cpu),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--idle-seconds", type=float, default=10.0)
    args = ap.parse_args()

    import logging

    logging.basicConfig(level=logging.WARNING)
    for name in ("httpx", "httpcore", "urllib3", "cropwatch.core.ratelimit"):
        logging.getLogger(name).setLevel(logging.ERROR)
    work = Path(tempfile.mkdtemp(prefix="cw-agent-bench-"))
    frames = make_frames(args.frames, args.width, args.height)
    mb = sum(map(len, frames)) / 1e6
    s3, server, settings, url, cam = start_server(work)
    try:
        from camera_agents.agent import Agent
        from camera_agents.config import load_config
        from camera_agents.sources import Frame

        drop = work / "drop"
        drop.mkdir()
        cfg_path = work / "agent.toml"
        backlog_dir = work / "agent-backlog"
        write_config(cfg_path, backlog_dir, url, cam.token, drop)

        # 1. capture -> outbox, in this process (the agent's own code path; no network)
        agent = Agent(load_config(cfg_path, env={}))
        t0 = time.perf_counter()
        for i, data in enumerate(frames):
            agent.process(Frame(data=data, name=f"f{i}", captured_at=dt.datetime.now(dt.timezone.utc)))
        buffer_s = time.perf_counter() - t0
        assert agent.outbox.backlog() == args.frames
        agent.outbox.close()

        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # 2. idle: an agent with nothing to send (a fresh data dir), the folder camera empty
        idle_cfg = work / "idle.toml"
        write_config(idle_cfg, work / "agent-idle", url, cam.token, drop)
        proc = subprocess.Popen(
            [sys.executable, "-m", "camera_agents", "run", "--config", str(idle_cfg)], cwd=PROJECT, env=env
        )
        time.sleep(3)  # imports and first heartbeat
        end = time.monotonic() + args.idle_seconds
        idle = sample(proc, lambda: time.monotonic() > end)
        proc.terminate()
        proc.wait(20)

        # 3. drain the backlog
        proc = subprocess.Popen(
            [sys.executable, "-m", "camera_agents", "run", "--config", str(cfg_path)], cwd=PROJECT, env=env
        )
        t0 = time.perf_counter()
        done = [0]

        def drained() -> bool:
            done[0] = stored_count(settings.db_url, cam.camera_id)
            return done[0] >= args.frames or proc.poll() is not None

        drain = sample(proc, drained)
        upload_s = time.perf_counter() - t0
        proc.terminate()
        proc.wait(20)
        assert done[0] == args.frames, f"only {done[0]} of {args.frames} stored"
    finally:
        server.should_exit = True
        s3.stop()

    from training.pipeline import cpu_name

    print(
        f"\nCropWatch field agent benchmark — {cpu_name()}, {os.cpu_count()} logical CPUs; "
        f"{args.frames} distinct JPEGs {args.width}×{args.height} (mean {mb / args.frames * 1000:.0f} KB); "
        f"API (uvicorn) + SeaweedFS on loopback, same machine"
    )
    print(
        f"  buffer (capture → outbox: decode check, fsync'd file, SQLite synchronous=FULL): "
        f"{args.frames / buffer_s:7.1f} frames/s  ({mb / buffer_s:.1f} MB/s)"
    )
    print(
        f"  upload (outbox → slot, presigned PUT, confirm; one agent, sequential):      "
        f"{args.frames / upload_s:7.1f} frames/s  ({mb / upload_s:.1f} MB/s), {upload_s:.1f} s for the backlog"
    )
    print(
        f"  agent process idle:     CPU {idle['cpu_pct_mean']}% mean (max {idle['cpu_pct_max']}%), "
        f"RSS {idle['rss_mb_mean']} MB (max {idle['rss_mb_max']} MB)"
    )
    print(
        f"  agent process draining: CPU {drain['cpu_pct_mean']}% mean (max {drain['cpu_pct_max']}%), "
        f"RSS {drain['rss_mb_mean']} MB (max {drain['rss_mb_max']} MB)"
    )
    print(
        json.dumps(
            {
                "buffer_fps": round(args.frames / buffer_s, 1),
                "upload_fps": round(args.frames / upload_s, 1),
                "idle": idle,
                "draining": drain,
            }
        )
    )


if __name__ == "__main__":
    main()
