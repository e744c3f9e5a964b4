"""Chaos tests with real processes: the pipeline under worker kills, a Redis restart, a database "restart" and an
object-storage outage, and Redis re-delivering a task that is still running.

Each test gets its own SeaweedFS and Redis (in its temporary folder) so they can be stopped and restarted on the
same ports and paths without disturbing the session-wide servers other tests use. Failures are replayable: the
chaos schedule comes from a seeded ``random.Random``; the seed is printed, and ``CROPWATCH_CHAOS_SEED=<seed>``
replays it (the schedule, not the exact interleaving of processes).

Redis runs with its AOF (``appendfsync everysec``) and is stopped with SIGTERM, after which it has written
everything: the test checks that a key written before the stop is there after the restart, and the queues and
unacknowledged messages survive with it. A crash (SIGKILL) could lose the last second of writes; a message lost
that way is published again by the sweeper (the database is the outbox).

Database faults: on PostgreSQL every backend connection to the test database is terminated with
``pg_terminate_backend`` (what the processes see when the server restarts). SQLite has no server: its variant
exercises the other faults only.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import os
import random
import re
import shutil
import signal
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from chaos_kit import UNRESOLVED, CameraRun, burst_frames, check_alerts, check_written_once, run_camera
from helpers import DB_BACKENDS, TEST_PG, rice_photos
from sqlalchemy import func, select
from stack import api_server, e2e_tenant, kill_group, spawn, stack_env, wait_for

from camera_agents.simulator import CameraSimulator
from cropwatch.core.enums import CaptureStatus
from cropwatch.core.orm import Alert, Capture, Detection, InferenceRun
from cropwatch.core.settings import Settings
from cropwatch.core.storage import Storage
from cropwatch.embedded import EmbeddedRedis, EmbeddedS3, free_port

# One database per run to keep CI inside its budget: PostgreSQL when it is there (the production database, and the
# only one with a server to "restart"), else SQLite. Both: CROPWATCH_CHAOS_ALL_BACKENDS=1.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize(
        "db_url", DB_BACKENDS if os.environ.get("CROPWATCH_CHAOS_ALL_BACKENDS") else DB_BACKENDS[-1:], indirect=True
    ),
]


# --- servers of our own -----------------------------------------------------------------------------------------


@pytest.fixture
def tenant(sessions, models_registered):
    return e2e_tenant(sessions)


@pytest.fixture
def chaos_redis():
    root = Path(tempfile.mkdtemp(prefix="cwc-"))  # short path: a unix socket path is limited to ~107 bytes
    server = EmbeddedRedis(root).start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def chaos_s3(tmp_path):
    server = EmbeddedS3(
        tmp_path / "s3", s3_port=free_port(), access_key="cw-chaos", secret_key="cw-chaos-secret"
    ).start()
    yield server
    server.stop()


@pytest.fixture
def settings(tmp_path, db_url, chaos_s3, chaos_redis):
    """Like tests/conftest.py's, but on this test's own S3 and Redis (overrides it for this module, so the
    ``storage``, ``sessions``, ``models_registered`` and ``tenant`` fixtures use them)."""
    return Settings(
        _env_file=None,
        environment="test",
        data_dir=tmp_path / "data",
        database_url=db_url,
        broker_url=chaos_redis.url,
        s3_endpoint=chaos_s3.endpoint,
        s3_access_key=chaos_s3.access_key,
        s3_secret_key=chaos_s3.secret_key,
        s3_bucket=f"cw-{uuid.uuid4().hex[:12]}",
        max_attempts=3,
        onnx_threads=1,
        detect_conf=0.001,
    )


def _is_pg(settings: Settings) -> bool:
    return settings.db_url.startswith("postgresql")


def terminate_db_connections(settings: Settings, *, window: float = 3.0) -> int:
    """What every process sees when PostgreSQL restarts: its connections to the database are cut, and for a few
    seconds a new one does not last either. Returns how many connections were cut."""
    admin = sa.create_engine(TEST_PG, isolation_level="AUTOCOMMIT")
    cut = 0
    try:
        with admin.connect() as c:
            end = time.monotonic() + window
            while True:
                cut += len(
                    c.execute(
                        sa.text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = :db AND pid <> pg_backend_pid()"
                        ),
                        {"db": sa.engine.make_url(settings.db_url).database},
                    ).all()
                )
                if time.monotonic() > end:
                    return cut
                time.sleep(0.2)
    finally:
        admin.dispose()


# --- the chaos --------------------------------------------------------------------------------------------------


@dataclass
class ChaosLog:
    kills: int = 0
    kills_mid_task: int = 0  # kills of a worker that held a claim on a capture
    redis_kept_data: bool | None = None
    db_connections_cut: int | None = None
    s3_down_s: float = 0.0
    events: list[str] = field(default_factory=list)


@dataclass
class ChaosPlan:
    """What the chaos does and when, drawn from the seed. Follow-up actions are timed from when the previous one
    really happened (a stop can take seconds), so an outage lasts at least its planned length."""

    first_kill_at: float
    kill_pauses: list[float]  # worker down after each kill, before its restart
    alive: list[float]  # worker up after each restart, before the next kill
    redis_at: float
    s3_at: float
    db_at: float | None  # PostgreSQL only
    redis_down: float = 2.0
    s3_down: float = 30.0


def plan_chaos(rng: random.Random, *, kills: int, pg: bool) -> ChaosPlan:
    return ChaosPlan(
        first_kill_at=rng.uniform(2, 4),
        kill_pauses=[rng.uniform(0.3, 1.5) for _ in range(kills)],
        alive=[rng.uniform(1.5, 5.0) for _ in range(kills - 1)],
        redis_at=rng.uniform(10, 25),
        s3_at=rng.uniform(28, 40),
        db_at=rng.uniform(15, 60) if pg else None,
    )


class Chaos:
    def __init__(
        self, *, env: dict, log, settings: Settings, sessions, s3: EmbeddedS3, redis_server: EmbeddedRedis
    ) -> None:
        self.env, self.log, self.settings, self.sessions = env, log, settings, sessions
        self.s3, self.redis = s3, redis_server
        self.result = ChaosLog()
        self._s3_stopped_at = 0.0
        self.t0 = time.monotonic()
        self.stop = threading.Event()  # the test is over (or failed): start nothing more
        self.start_worker()

    def start_worker(self) -> None:
        self.worker_started = dt.datetime.now(dt.timezone.utc)
        self.worker = spawn(["worker"], self.env, self.log)

    def _mid_task(self) -> bool:
        """Whether the worker about to be killed holds a claim on a capture right now."""
        try:
            with self.sessions() as s:
                return bool(
                    s.scalar(
                        select(func.count(Capture.id)).where(
                            Capture.status == CaptureStatus.processing, Capture.claimed_at >= self.worker_started
                        )
                    )
                )
        except Exception:  # noqa: BLE001 - the database may be the thing that is down
            return False

    def _backlog(self) -> bool:
        """Whether a capture waits for a worker, which will need S3 to fetch its photo."""
        try:
            with self.sessions() as s:
                return bool(s.scalar(select(func.count(Capture.id)).where(Capture.status == CaptureStatus.stored)))
        except Exception:  # noqa: BLE001
            return False

    def do(self, action: str) -> None:
        r = self.result
        if action == "kill-worker":
            r.kills_mid_task += self._mid_task()
            kill_group(self.worker, signal.SIGKILL)  # main process and pool, like the OOM killer or a power cut
            r.kills += 1
        elif action == "start-worker":
            self.start_worker()
        elif action == "stop-redis":
            redis.Redis(unix_socket_path=str(self.redis.socket_path)).set("chaos:marker", "kept")
            self.redis.stop()
        elif action == "start-redis":
            self.redis.start()
            r.redis_kept_data = redis.Redis(unix_socket_path=str(self.redis.socket_path)).get("chaos:marker") == b"kept"
        elif action == "stop-s3":
            self.s3.stop()
            self._s3_stopped_at = time.monotonic()
        elif action == "start-s3":
            self.s3.start()
            r.s3_down_s = time.monotonic() - self._s3_stopped_at
        elif action == "cut-db":
            r.db_connections_cut = terminate_db_connections(self.settings)
        r.events.append(f"{time.monotonic() - self.t0:.0f}s {action}")

    def run(self, plan: ChaosPlan, t0: float) -> None:
        self.t0 = t0
        seq = itertools.count()
        events = [
            (t0 + plan.first_kill_at, next(seq), "kill-worker"),
            (t0 + plan.redis_at, next(seq), "stop-redis"),
            (t0 + plan.s3_at, next(seq), "stop-s3"),
        ]
        if plan.db_at is not None:
            events.append((t0 + plan.db_at, next(seq), "cut-db"))
        heapq.heapify(events)
        kills = restarts = 0
        s3_deadline = t0 + plan.s3_at + 20
        while events:
            due, _, action = heapq.heappop(events)
            if self.stop.wait(max(0.0, due - time.monotonic())):
                return
            if action == "stop-s3" and time.monotonic() < s3_deadline and not self._backlog():
                # the outage hurts most when the worker has captures to fetch: wait for one (up to 20 s)
                heapq.heappush(events, (time.monotonic() + 0.5, next(seq), action))
                continue
            if action == "kill-worker" and not self.s3.running and time.monotonic() < self._s3_stopped_at + 15:
                # let one worker live long enough to see S3 fail (the client retries for ~6 s) and hand the
                # capture back, instead of being killed while it waits
                heapq.heappush(events, (self._s3_stopped_at + 15, next(seq), action))
                continue
            self.do(action)
            now = time.monotonic()
            follow = None
            if action == "kill-worker":
                follow = (now + plan.kill_pauses[kills], "start-worker")
                kills += 1
            elif action == "start-worker":
                if restarts < len(plan.alive):
                    follow = (now + plan.alive[restarts], "kill-worker")
                restarts += 1
            elif action == "stop-redis":
                follow = (now + plan.redis_down, "start-redis")
            elif action == "stop-s3":
                follow = (now + plan.s3_down, "start-s3")
            if follow:
                heapq.heappush(events, (follow[0], next(seq), follow[1]))

    def ensure_up(self) -> None:
        """After the chaos (or if it stopped half-way on an error): every server and one worker running."""
        if not self.redis.running:
            self.redis.start()
        if not self.s3.running:
            self.s3.start()
        if self.worker.poll() is not None:
            self.start_worker()


# --- 1. a burst of uploads under chaos --------------------------------------------------------------------------

BURST = 48
KILLS = 20
S3_OUTAGE_S = 30


def test_burst_under_chaos_every_photo_once_nothing_stuck_nothing_counted_twice(
    settings,
    sessions,
    tenant,
    chaos_s3,
    chaos_redis,
    tmp_path,
):
    seed = int(os.environ.get("CROPWATCH_CHAOS_SEED") or random.SystemRandom().randrange(2**32))
    print(f"\nchaos seed {seed} (replay: CROPWATCH_CHAOS_SEED={seed})")
    rng = random.Random(seed)
    pg = _is_pg(settings)
    if not pg:
        print("SQLite: no database server to restart; this variant exercises the worker, Redis and S3 faults only")
    plan = plan_chaos(rng, kills=KILLS, pg=pg)
    # claim lease and sweeper short, so a killed worker's captures come back within seconds; Redis re-delivers an
    # unacknowledged task after 10 s (the restarted worker restores them when it starts)
    env = stack_env(settings, stuck_after_seconds=8, sweep_interval_seconds=2, broker_visibility_timeout=10)
    frames = burst_frames(BURST)
    log_path = tmp_path / "stack.log"
    print(f"processes log to {log_path}")
    log = open(log_path, "wb")
    started = time.monotonic()
    camera = CameraRun()
    chaos = Chaos(env=env, log=log, settings=settings, sessions=sessions, s3=chaos_s3, redis_server=chaos_redis)
    beat = spawn(["beat"], env, log)
    errors: list[str] = []

    def guarded(name: str, fn, **kw) -> threading.Thread:
        def body() -> None:
            try:
                fn(**kw)
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                errors.append(f"{name}: {exc!r}")

        return threading.Thread(target=body, name=name, daemon=True)

    threads: list[threading.Thread] = []
    try:
        with api_server(env, log) as url:
            t0 = time.monotonic()
            threads = [
                guarded(
                    "camera",
                    run_camera,
                    url=url,
                    token=tenant.camera_token,
                    frames=frames,
                    interval=1.2,
                    rng=random.Random(seed + 1),
                    deadline=t0 + 170,
                    out=camera,
                    stop=chaos.stop,
                ),
                guarded("chaos", chaos.run, plan=plan, t0=t0),
            ]
            for t in threads:
                t.start()
            threads[1].join(200)
            threads[0].join(max(1.0, t0 + 200 - time.monotonic()))
            assert not any(t.is_alive() for t in threads), "the camera or the chaos did not finish in time"
            assert not errors, errors
            chaos.ensure_up()
            burst_s = time.monotonic() - t0

            left: list[str] = []

            def resolved() -> bool:
                with sessions() as s:
                    left[:] = [
                        f"{c.id} {c.status.value} attempts={c.attempts} error={c.error!r}"
                        for c in s.scalars(select(Capture).where(Capture.status.in_(UNRESOLVED)))
                    ]
                return not left

            try:
                wait_for(resolved, 150, "every accepted capture to be done or failed")
            except AssertionError as exc:
                raise AssertionError(f"{exc}; still unresolved: {left}; camera refused: {camera.refused}") from None
            assert beat.poll() is None, "beat (the sweeper) died"
    finally:
        chaos.stop.set()
        for t in threads:
            t.join(30)
        kill_group(chaos.worker)
        kill_group(beat)
        log.close()

    assert not camera.refused, f"4xx answers to a well-behaved camera: {camera.refused}"
    assert not camera.gave_up, f"{len(camera.gave_up)} photos could not be sent within the deadline"
    assert len(camera.accepted) == BURST
    with sessions() as s:
        # every photo the camera sent is there exactly once, and nothing else is
        per_sha = Counter(s.scalars(select(Capture.sha256).where(Capture.camera_id == tenant.camera_id)))
        assert per_sha == Counter(camera.accepted.keys()), "captures do not match the photos sent, once each"
        statuses = check_written_once(s, list(camera.accepted.values()))
        reasons = Counter(
            c.error.split(":")[0] for c in s.scalars(select(Capture).where(Capture.status == CaptureStatus.failed))
        )
        n_alerts = check_alerts(s)
        keys = [(c.object_key, c.size_bytes) for c in s.scalars(select(Capture))]
    storage = Storage(settings)  # the accepted photos survived the S3 restart
    lost = [k for k, size in keys if (info := storage.stat(k)) is None or info.size != size]
    assert not lost, f"objects lost in S3: {lost[:5]}"
    assert chaos.result.redis_kept_data, "Redis lost its data across a restart (AOF)"
    assert chaos.result.kills == KILLS and chaos.result.s3_down_s >= S3_OUTAGE_S
    if pg:
        assert chaos.result.db_connections_cut is not None
    assert statuses["done"] > 0, "nothing got through"
    r = chaos.result
    text = log_path.read_bytes()
    outcomes = Counter(
        m.decode() for m in re.findall(rb"cropwatch\.detect\[[^\]]+\] succeeded in [\d.]+s: '(\w+)'", text)
    )
    outcomes["retry"] = len(re.findall(rb"cropwatch\.detect\[[^\]]+\] retry", text))  # S3 trouble seen by the worker
    print(
        f"chaos summary ({'postgresql' if pg else 'sqlite'}, seed {seed}): {r.kills} worker kills "
        f"({r.kills_mid_task} with a capture in progress), Redis restarted (data kept: {r.redis_kept_data}), "
        f"S3 down {r.s3_down_s:.0f} s, database connections cut: "
        f"{r.db_connections_cut if pg else 'n/a (SQLite)'}; camera: {len(camera.accepted)} photos accepted, "
        f"{camera.outer_retries} frames re-tried after the simulator's retries ran out; captures: "
        f"{statuses['done']} done, {statuses['failed']} failed {dict(reasons)}; {n_alerts} open alerts; "
        f"detect tasks ended {dict(outcomes)}; "
        f"burst {burst_s:.0f} s, total {time.monotonic() - started:.0f} s"
    )
    print("chaos timeline: " + ", ".join(e for e in r.events if "worker" not in e))


# --- 2. Redis re-delivers a task that is still running ------------------------------------------------------------


@pytest.mark.parametrize("lease", ["expired", "live"])
def test_redelivery_of_a_running_slow_task_with_concurrency_2_writes_once(settings, sessions, tenant, tmp_path, lease):
    """The visibility timeout (3 s) is shorter than the task (15 s): Redis hands the message to the worker's second
    process while the first still runs. With the claim's lease already expired (2 s) both deliveries run the whole
    pipeline and the results must still be written once; with a live lease (120 s) the second stands back."""
    delay, visibility = 15, 3
    stuck = 2 if lease == "expired" else 120
    env = stack_env(
        settings, test_task_delay_seconds=delay, broker_visibility_timeout=visibility, stuck_after_seconds=stuck
    )
    log_path = tmp_path / "stack.log"
    log = open(log_path, "wb")
    worker = spawn(["worker", "--concurrency", "2"], env, log)
    try:
        with api_server(env, log) as url:
            # wait for both pool processes, so the redelivery finds a free one
            wait_for(lambda: log_path.read_bytes().count(b"ready.") >= 1, 90, "the worker to start")
            photo = rice_photos(1)[0]
            cid = CameraSimulator(url, tenant.camera_token).upload(photo).capture_id

            def state():
                with sessions() as s:
                    cap = s.get(Capture, cid)
                    return cap.status, cap.attempts

            if lease == "expired":
                # the second delivery claims it again while the first is still asleep in the task
                wait_for(lambda: state() == (CaptureStatus.processing, 2), 60, "a second claim during the first")
            wait_for(lambda: state()[0] == CaptureStatus.done, 120, "the capture to be done")

            def all_ended() -> bool:  # every delivery the worker received has returned
                text = log_path.read_bytes()
                return text.count(b"] received") == len(re.findall(rb"succeeded in [\d.]+s: ", text))

            wait_for(all_ended, 60, "every delivery of the task to end")
    finally:
        kill_group(worker)
        log.close()
    outcomes = Counter(m.decode() for m in re.findall(rb"succeeded in [\d.]+s: '(\w+)'", log_path.read_bytes()))
    # one delivery stored the result; every other one saw it stored (expired lease) or stood back (live lease)
    other = "already_done" if lease == "expired" else "in_progress"
    assert outcomes["done"] == 1 and outcomes[other] >= 1 and sum(outcomes.values()) == 1 + outcomes[other], outcomes
    with sessions() as s:
        cap = s.get(Capture, cid)
        assert cap.attempts == (2 if lease == "expired" else 1)
        statuses = check_written_once(s, [cid])
        assert statuses == Counter(done=1)
        run = s.scalar(select(InferenceRun).where(InferenceRun.capture_id == cid))
        assert run.detection_count > 0, "the photo needs detections for the alert and diary checks"
        check_alerts(s)
        per_class = Counter(s.scalars(select(Detection.class_name).where(Detection.capture_id == cid)))
        for a in s.scalars(select(Alert)):
            assert a.count == per_class[a.class_name], f"alert {a.class_name} counts {a.count}"
        assert s.scalar(select(func.count(Alert.id))) == len(per_class)
    print(
        f"\nlease {lease}: attempts {cap.attempts}, {run.detection_count} detections, {len(per_class)} alerts, "
        f"deliveries ended {dict(outcomes)}"
    )
