"""The scale-out layout under chaos (issue 16): PostgreSQL, RabbitMQ (durable queues, publisher confirms) and a
SeaweedFS cluster (a master, two volume servers replicating ``001``, a filer and its S3 gateway as separate
processes), with two API processes and two worker processes, each camera on its own API.

While two cameras upload, the schedule SIGKILLs each worker (restarted after a pause), SIGKILLs the broker and
restarts it on its own disk, SIGKILLs a volume server (restarted 10 s later) and takes the S3 gateway away for 30 s.
Every photo must end up exactly once: one capture per photo, one inference run, its detections once in the diary,
no alert counted twice, every object readable, nothing left `stored` or `processing`.

The engines are this machine's: PostgreSQL at ``CROPWATCH_TEST_POSTGRES_URL`` and a private node of the installed
RabbitMQ server (``cropwatch.cluster.PrivateRabbitMQ``), so the broker can be killed without touching the machine's
own. Without either the test is skipped, and says why.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
import uuid
from collections import Counter

import pytest
from chaos_kit import UNRESOLVED, CameraRun, burst_frames, check_alerts, check_written_once, run_camera
from helpers import TEST_PG
from sqlalchemy import select
from stack import api_server, e2e_tenant, kill_group, spawn, stack_env, wait_for

from cropwatch.cluster import PrivateRabbitMQ, SeaweedFSCluster, quiet_port
from cropwatch.core.orm import Camera, Capture, Plot
from cropwatch.core.security import new_token, token_hash
from cropwatch.core.settings import Settings
from cropwatch.core.storage import Storage

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not TEST_PG, reason="the scale-out layout runs on PostgreSQL: CROPWATCH_TEST_POSTGRES_URL"),
    pytest.mark.skipif(not PrivateRabbitMQ.available(), reason="RabbitMQ server not installed on this machine"),
]

FRAMES = 40  # 20 per camera
S3_OUTAGE_S = 30


@pytest.fixture
def rabbit(tmp_path):
    server = PrivateRabbitMQ(tmp_path / "rabbitmq").start()
    yield server
    server.stop()


@pytest.fixture
def cluster(tmp_path):
    c = SeaweedFSCluster(
        tmp_path / "seaweedfs", s3_port=quiet_port(), access_key="cw-scale", secret_key="cw-scale-secret"
    ).start()
    yield c
    c.stop()


@pytest.fixture
def settings(tmp_path, db_url, cluster, rabbit, redis_url):
    """The module's own engines (overrides tests/conftest.py's, so ``sessions``, ``storage`` and
    ``models_registered`` use them); Redis only for what production keeps there beside a RabbitMQ broker (worker
    heartbeats, rate limits)."""
    return Settings(
        _env_file=None,
        environment="test",
        data_dir=tmp_path / "data",
        database_url=db_url,
        broker_url=rabbit.url,
        heartbeat_redis_url=redis_url,
        s3_endpoint=cluster.endpoint,
        s3_access_key=cluster.access_key,
        s3_secret_key=cluster.secret_key,
        s3_bucket=f"cw-{uuid.uuid4().hex[:12]}",
        max_attempts=3,
        onnx_threads=1,
        detect_conf=0.001,
    )


class Schedule(threading.Thread):
    """The faults, one after another, each logged with when it really happened."""

    def __init__(self, *, env, log, cluster: SeaweedFSCluster, rabbit: PrivateRabbitMQ, rng: random.Random) -> None:
        super().__init__(daemon=True, name="chaos")
        self.env, self.log, self.cluster, self.rabbit, self.rng = env, log, cluster, rabbit, rng
        self.workers = [self._worker(), self._worker()]
        self.events: list[str] = []
        self.error: BaseException | None = None
        self.t0 = time.monotonic()
        self.s3_down_s = 0.0

    def _worker(self):
        return spawn(["worker", "--queues", "inference,maintenance", "--loglevel", "INFO"], self.env, self.log)

    def _note(self, what: str) -> None:
        self.events.append(f"{time.monotonic() - self.t0:.0f}s {what}")

    def _pause(self, seconds: float) -> None:
        time.sleep(seconds)

    def kill_worker(self, i: int) -> None:
        kill_group(self.workers[i], signal.SIGKILL)
        self._note(f"worker {i + 1} SIGKILLed")
        self._pause(self.rng.uniform(1, 4))
        self.workers[i] = self._worker()
        self._note(f"worker {i + 1} restarted")

    def run(self) -> None:
        try:
            self._pause(8 + self.rng.uniform(0, 4))
            self.kill_worker(0)
            self._pause(self.rng.uniform(3, 6))
            self.rabbit.kill()
            self._note("RabbitMQ SIGKILLed")
            self.rabbit.start()
            self._note("RabbitMQ restarted")
            self._pause(self.rng.uniform(3, 6))
            self.cluster.kill_volume(1)
            self._note("volume server 2 SIGKILLed")
            self._pause(10)
            self.cluster.start_volume(1)
            self._note("volume server 2 restarted")
            self._pause(self.rng.uniform(2, 5))
            down = time.monotonic()
            self.cluster.kill_s3()
            self._note("S3 gateway down")
            self._pause(S3_OUTAGE_S)
            self.cluster.start_s3()
            self.s3_down_s = time.monotonic() - down
            self._note("S3 gateway back")
            self._pause(self.rng.uniform(2, 5))
            self.kill_worker(1)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def stop(self) -> None:
        for w in self.workers:
            kill_group(w)


def _second_camera(sessions, tenant) -> str:
    """A camera on a plot of its own: with two cameras on one plot the plot's figure is their mean, which falls when
    the second camera's first photo of the day counts less; its card keeps the day's highest figure
    (docs/decisions.md), so the recount check would not hold by design."""
    with sessions.begin() as s:
        first = s.get(Camera, tenant.camera_id)
        plot = s.get(Plot, first.plot_id)
        other = Plot(cooperative_id=plot.cooperative_id, farm_id=plot.farm_id, name="Lô 2", crop=plot.crop)
        s.add(other)
        s.flush()
        token = new_token("cam")
        s.add(
            Camera(
                cooperative_id=first.cooperative_id,
                plot_id=other.id,
                name="cam 2",
                kind=first.kind,
                model_task=first.model_task,
                token_hash=token_hash(token),
            )
        )
    return token


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_scale_out_layout_keeps_every_capture_exactly_once_under_chaos(
    settings, sessions, models_registered, cluster, rabbit, tmp_path
):
    seed = int(os.environ.get("CROPWATCH_CHAOS_SEED") or random.SystemRandom().randrange(2**32))
    print(f"\nscale-out chaos seed {seed} (replay: CROPWATCH_CHAOS_SEED={seed})")
    rng = random.Random(seed)
    tenant = e2e_tenant(sessions)
    tokens = [tenant.camera_token, _second_camera(sessions, tenant)]
    env = stack_env(settings, stuck_after_seconds=8, sweep_interval_seconds=2)
    log_path = tmp_path / "stack.log"
    print(f"processes log to {log_path}")
    log = open(log_path, "wb")
    frames = burst_frames(FRAMES)
    runs = [CameraRun(), CameraRun()]
    stop = threading.Event()
    beat = spawn(["beat"], env, log)
    chaos = Schedule(env=env, log=log, cluster=cluster, rabbit=rabbit, rng=rng)
    cameras: list[threading.Thread] = []
    try:
        with api_server(env, log) as url1, api_server(env, log) as url2:
            t0 = time.monotonic()
            chaos.start()
            cameras = [
                threading.Thread(
                    target=run_camera,
                    kwargs=dict(
                        url=url,
                        token=token,
                        frames=frames[i::2],
                        interval=2.0,
                        rng=random.Random(seed + i + 1),
                        deadline=t0 + 200,
                        out=runs[i],
                        stop=stop,
                    ),
                    daemon=True,
                )
                for i, (url, token) in enumerate(zip((url1, url2), tokens))
            ]
            for t in cameras:
                t.start()
            chaos.join(200)
            for t in cameras:
                t.join(max(1.0, t0 + 220 - time.monotonic()))
            assert not chaos.is_alive() and not any(t.is_alive() for t in cameras), "the cameras or chaos hung"
            assert chaos.error is None, repr(chaos.error)

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
                raise AssertionError(f"{exc}; still unresolved: {left}") from None
            assert beat.poll() is None, "beat (the sweeper) died"
    finally:
        stop.set()
        for t in cameras:
            t.join(30)
        chaos.stop()
        kill_group(beat)
        log.close()

    accepted = {**runs[0].accepted, **runs[1].accepted}
    assert not runs[0].refused and not runs[1].refused, f"4xx to a camera: {runs[0].refused + runs[1].refused}"
    assert len(accepted) == FRAMES, f"{FRAMES - len(accepted)} photos not accepted within the deadline"
    with sessions() as s:
        per_sha = Counter(s.scalars(select(Capture.sha256)))
        assert per_sha == Counter(accepted.keys()), "captures do not match the photos sent, once each"
        statuses = check_written_once(s, list(accepted.values()))
        n_alerts = check_alerts(s)
        keys = [(c.object_key, c.size_bytes) for c in s.scalars(select(Capture))]
    storage = Storage(settings)
    lost = [k for k, size in keys if (info := storage.stat(k)) is None or info.size != size]
    assert not lost, f"objects lost in the cluster: {lost[:5]}"
    assert chaos.s3_down_s >= S3_OUTAGE_S
    assert statuses["done"] > 0, "nothing got through"
    retries = sum(r.outer_retries for r in runs)
    print(
        f"scale-out chaos summary (seed {seed}): {dict(statuses)}; {n_alerts} open alerts; camera frames re-tried "
        f"after the simulator's retries ran out: {retries}; timeline: {', '.join(chaos.events)}"
    )


def test_a_photo_survives_the_loss_of_one_volume_server(cluster, tmp_path):
    """Replication 001: every object is on both volume servers, so a read after one of them died still answers."""
    settings = Settings(
        _env_file=None,
        environment="test",
        data_dir=tmp_path / "data",
        s3_endpoint=cluster.endpoint,
        s3_access_key=cluster.access_key,
        s3_secret_key=cluster.secret_key,
        s3_bucket=f"cw-{uuid.uuid4().hex[:12]}",
    )
    storage = Storage(settings)
    storage.ensure_bucket()
    photos = {f"raw/{i}.jpg": os.urandom(2000 + i) for i in range(6)}
    for key, data in photos.items():
        storage.put_bytes(key, data, "image/jpeg")
    for dead in (0, 1):
        cluster.kill_volume(dead)
        try:
            assert {k: storage.get_bytes(k) for k in photos} == photos, f"volume server {dead + 1} down"
        finally:
            cluster.start_volume(dead)
        cluster.wait_volumes()
