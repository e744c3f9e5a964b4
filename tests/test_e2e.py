"""End to end with real processes: API and Celery worker as subprocesses on real SeaweedFS, Redis and SQLite.

The simulated camera uploads real pest photos through the presigned flow; the farmer sees detections,
alerts and diary entries over HTTP. A worker killed with SIGKILL mid-task loses nothing and writes once.
"""

from __future__ import annotations

import signal
import threading

import httpx
import pytest
from helpers import rice_photos, sample
from sqlalchemy import select
from stack import api_server, e2e_tenant, kill_group, spawn, stack_env, wait_for

from camera_agents.simulator import CameraSimulator
from cropwatch.core.enums import CaptureStatus, Role
from cropwatch.core.orm import Capture, Detection, InferenceRun
from cropwatch.embedded import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def tenant(sessions, models_registered):
    return e2e_tenant(sessions)


def test_camera_to_alert_and_diary_through_real_processes(settings, sessions, tenant, tmp_path):
    env = stack_env(settings, model_variant="int8")  # the worker serves the INT8 artifact of the shipped model
    log = open(tmp_path / "stack.log", "wb")
    worker_port = free_port()
    worker = spawn(["worker", "--metrics-port", str(worker_port)], env, log)
    try:
        with api_server(env, log) as url:
            sim = CameraSimulator(url, tenant.camera_token)
            photos = rice_photos(6)
            uploaded = sim.run(photos, interval=0, stop=threading.Event())
            assert len(uploaded) == 6 and not any(u.duplicate for u in uploaded)
            auth = tenant.auth(Role.member)

            def all_done():
                caps = httpx.get(f"{url}/api/v1/captures", headers=auth).json()
                return caps if len(caps) == 6 and all(c["status"] == "done" for c in caps) else None

            wait_for(all_done, 180, "6 captures done")
            # the worker reports what it serves: model variant and the execution provider really in use
            health = httpx.get(f"{url}/health").json()
            served = [m for w in health["workers"] for m in w["models"] if m["task"] == "pest"]
            assert any(m["variant"] == "int8" and m["provider"] == "cpu" for m in served), health
            metrics = httpx.get(f"{url}/metrics").text
            assert any(
                line.startswith("cropwatch_worker_model_info{")
                and 'provider="cpu"' in line
                and 'variant="int8"' in line
                for line in metrics.splitlines()
            ), metrics[-2000:]
            # the worker's histograms reach the API's scrape (prometheus_client's multiprocess files of both)
            assert sample(metrics, "cropwatch_capture_seconds_count") >= 6, metrics[-3000:]
            assert sample(metrics, "cropwatch_queue_wait_seconds_count") >= 6
            assert sample(metrics, "cropwatch_batch_images_sum") >= 6
            assert sample(metrics, "cropwatch_forward_seconds_count") >= 1
            assert sample(metrics, "cropwatch_s3_seconds_count", operation="get") >= 6
            assert sample(metrics, "cropwatch_captures_processed_total", outcome="done") >= 6
            slots = sample(metrics, "cropwatch_http_request_seconds_count", route="/api/v1/ingest/slots", method="POST")
            assert slots >= 6, "the API's own request histogram"
            own = httpx.get(f"http://127.0.0.1:{worker_port}/metrics").text  # a worker host's own endpoint
            assert sample(own, "cropwatch_capture_seconds_count") >= 6
            assert sample(own, "cropwatch_http_request_seconds_count") == 0, "the worker's own series only"
            details = [httpx.get(f"{url}/api/v1/captures/{u.capture_id}", headers=auth).json() for u in uploaded]
            n_dets = sum(len(d["detections"]) for d in details)
            assert n_dets > 0
            assert httpx.get(details[0]["image_url"]).content == photos[0].read_bytes()
            alerts = httpx.get(f"{url}/api/v1/alerts", headers=auth).json()
            assert alerts and alerts[0]["message"] == alerts[0]["message_vi"]
            diary = httpx.get(f"{url}/api/v1/diary", headers=auth, params={"source": "automatic"}).json()
            # one observation per pest and day, holding every photo's detections as evidence
            assert sorted(e["subject"] for e in diary) == sorted(
                {x["class_name"] for d in details for x in d["detections"]}
            )
            assert sorted(i for e in diary for i in e["detection_ids"]) == sorted(
                x["id"] for d in details for x in d["detections"]
            )
            # uploading the same photos again changes nothing
            again = sim.run(photos, interval=0, stop=threading.Event())
            assert all(u.duplicate for u in again)
            assert len(httpx.get(f"{url}/api/v1/captures", headers=auth).json()) == 6
    finally:
        kill_group(worker)
        log.close()


def test_worker_killed_mid_task_loses_nothing_and_writes_once(settings, sessions, tenant, tmp_path):
    log = open(tmp_path / "stack.log", "wb")
    # the claim lease (stuck_after_seconds) is shorter than the redelivery, so the restarted worker may re-claim
    slow_env = stack_env(settings, test_task_delay_seconds=4, broker_visibility_timeout=5, stuck_after_seconds=3)
    env = stack_env(settings, broker_visibility_timeout=5, stuck_after_seconds=3)
    with api_server(env, log) as url:
        worker = spawn(["worker"], slow_env, log)
        try:
            sim = CameraSimulator(url, tenant.camera_token)
            cid = sim.upload(rice_photos(1)[0]).capture_id

            def processing():
                with sessions() as s:
                    return s.get(Capture, cid).status == CaptureStatus.processing

            wait_for(processing, 90, "the worker to pick the capture up")
            kill_group(worker, signal.SIGKILL)  # the whole worker, main process and pool, with -9
        finally:
            kill_group(worker)
        worker2 = spawn(["worker"], env, log)
        try:

            def done():
                with sessions() as s:
                    return s.get(Capture, cid).status == CaptureStatus.done

            wait_for(done, 120, "the capture to be processed after the restart")
        finally:
            kill_group(worker2)
    log.close()
    with sessions() as s:
        cap = s.get(Capture, cid)
        runs = s.scalars(select(InferenceRun).where(InferenceRun.capture_id == cid)).all()
        dets = s.scalars(select(Detection).where(Detection.capture_id == cid)).all()
        assert len(runs) == 1 and len(dets) == runs[0].detection_count
        assert cap.attempts == 2  # the killed attempt is counted
