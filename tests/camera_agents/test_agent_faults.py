"""Fault tests of the field agent against the real app and real S3 on loopback, with the link between them played by
fault proxies (tests/camera_agents/proxy.py) in front of BOTH the API and S3."""

from __future__ import annotations

import io
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from agent_testkit import ListSource, agent_config, jpeg, running, sha, wait_for

from camera_agents.agent import Agent
from camera_agents.sources import Frame
from camera_agents.uploader import Api, LinkDown
from cropwatch.core.orm import Capture

PROJECT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("outage", ["api", "s3"])
def test_nothing_is_lost_while_the_server_or_s3_is_down(field, tmp_path, outage):
    """Frames captured during an outage wait in the outbox; once the link is back each arrives exactly once."""
    frames = [jpeg(i) for i in range(12)]
    proxy = field.api if outage == "api" else field.s3
    proxy.down()
    agent = Agent(agent_config(tmp_path, field), source=ListSource(frames))
    with running(agent):
        wait_for(
            lambda: agent.source.given == len(frames) and agent.outbox.backlog() == len(frames),
            what="all frames buffered while the link is down",
        )
        wait_for(lambda: agent.stats.upload_failures >= 2, what="uploads failing during the outage")
        assert field.stored() == set()
        time.sleep(1.0)  # a while longer: backoff grows, nothing is dropped
        assert agent.outbox.backlog() == len(frames)
        proxy.up()
        wait_for(lambda: agent.outbox.backlog() == 0, timeout=60, what="the backlog to drain")
    rows = field.capture_rows()
    assert sorted(s for s, _ in rows) == sorted(sha(f) for f in frames), "every frame exactly once"
    assert {st for _, st in rows} == {"stored"}
    assert agent.outbox.counters()["uploaded_total"] == len(frames)
    assert agent.outbox.counters()["evicted_total"] == 0


def test_sigkill_mid_upload_then_restart_resumes_without_duplicates(field, tmp_path):
    """The agent (a subprocess watching a drop folder) is SIGKILLed while a PUT is half sent; the restarted agent
    resumes from its outbox; the server ends up with every frame once."""
    drop = tmp_path / "drop"
    drop.mkdir()
    frames = [jpeg(100 + i, size=(300, 400), quality=95) for i in range(10)]
    for i, data in enumerate(frames):
        (drop / f"IMG_{i:04d}.jpg").write_bytes(data)
    cfg = tmp_path / "agent.toml"
    cfg.write_text(f"""
[agent]
data_dir = "{tmp_path / "agent"}"
[server]
url = "{field.api_url}"
token = "{field.token}"
timeout_s = 10
connect_timeout_s = 3
[camera]
source = "folder"
path = "{drop}"
settle_s = 0
poll_s = 0.2
[upload]
backoff_base_s = 0.2
backoff_max_s = 1.0
heartbeat_s = 0.5
[outbox]
min_free_mb = 0
""")
    # stall S3 in the middle of the 4th PUT body: the agent is surely mid-upload when it is killed
    field.s3.pause_after = int(3.5 * sum(map(len, frames)) / len(frames))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "camera_agents", "run", "--config", str(cfg)]
    log1 = open(tmp_path / "agent1.log", "wb")
    proc = subprocess.Popen(cmd, cwd=PROJECT, env=env, stdout=log1, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: field.s3.state == "paused", timeout=60, what="a PUT stalled mid-body")
        stored_before = field.stored()
        assert 0 < len(stored_before) < len(frames)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert field.captures()  # the interrupted frame has a pending capture on the server
    field.s3.up()
    log2 = open(tmp_path / "agent2.log", "wb")
    proc = subprocess.Popen(cmd, cwd=PROJECT, env=env, stdout=log2, stderr=subprocess.STDOUT)
    try:
        wait_for(
            lambda: len(field.stored()) == len(frames),
            timeout=90,
            what=f"all frames stored after the restart (log: {tmp_path / 'agent2.log'})",
        )
        wait_for(lambda: not any(drop.glob("*.jpg")), timeout=10, what="the drop folder emptied")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
    rows = field.capture_rows()
    assert sorted(s for s, _ in rows) == sorted(sha(f) for f in frames), "no frame lost, none twice"
    assert {st for _, st in rows} == {"stored"}
    waiting = re.search(r"(\d+) frame\(s\) waiting in the outbox", (tmp_path / "agent2.log").read_text())
    assert waiting and int(waiting.group(1)) >= len(frames) - len(stored_before), "the restart resumed the outbox"
    assert proc.returncode == 0, (tmp_path / "agent2.log").read_text()[-2000:]


@pytest.fixture(scope="module")
def big_jpeg() -> bytes:
    """A real JPEG of about 7 MB: a multipart upload of two 5 MiB parts."""
    from PIL import Image

    rng = np.random.default_rng(11)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (2400, 2600, 3), dtype=np.uint8)).save(buf, "JPEG", quality=92)
    data = buf.getvalue()
    assert 5 * 1024 * 1024 < len(data) < 10 * 1024 * 1024
    return data


def test_link_drop_mid_multipart_resumes_and_the_stored_object_matches(field, tmp_path, big_jpeg):
    """The link to S3 drops inside part 2: the agent asks for the slot again, skips part 1 (done) and sends the rest;
    the object S3 stores has the frame's sha256."""
    from cropwatch.core.orm import Capture

    part = 5 * 1024 * 1024  # the server's part size
    field.s3.cut_after = part + (len(big_jpeg) - part) // 2  # part 1 went through, part 2 is cut half-way
    agent = Agent(agent_config(tmp_path, field, upload={"multipart_above_mb": 5}), source=ListSource([big_jpeg]))
    with running(agent):
        wait_for(lambda: agent.outbox.counters()["uploaded_total"] == 1, timeout=90, what="the upload")
    assert agent.stats.upload_failures >= 1, "the link drop must have been seen"
    assert field.s3.cut_after is None
    # part 1 was not sent again: what went up is well under two whole frames
    assert field.s3.bytes_up < len(big_jpeg) + (len(big_jpeg) - part) // 2 + 100_000, field.s3.bytes_up
    with field.sessions() as s:
        cap = s.query(Capture).filter_by(camera_id=field.camera_id).one()
        assert cap.status.value == "stored" and cap.sha256 == sha(big_jpeg)
        assert sha(field.storage.get_bytes(cap.object_key)) == sha(big_jpeg)


def test_disk_quota_evicts_the_oldest_frames_and_the_heartbeat_reports_it(field, tmp_path):
    """With the server away the outbox fills its quota: the oldest frames are evicted (counted), the newest kept;
    when the server is back the heartbeat reports the evictions and the kept frames arrive."""
    frames = [jpeg(200 + i) for i in range(12)]
    size = max(map(len, frames))
    keep = 4
    field.api.down()
    cfg = agent_config(tmp_path, field, outbox={"quota_mb": (keep * size + size // 2) / 1024 / 1024})
    agent = Agent(cfg, source=ListSource(frames))
    with running(agent):
        wait_for(lambda: agent.source.given == len(frames), what="all frames captured")
        wait_for(lambda: agent.outbox.counters()["captured_total"] == len(frames), what="all frames buffered")
        evicted = agent.outbox.counters()["evicted_total"]
        assert evicted == len(frames) - keep and agent.outbox.backlog() == keep
        field.api.up()
        wait_for(lambda: agent.outbox.backlog() == 0, what="the kept frames uploaded")
        status = wait_for(
            lambda: (
                (s := field.agent_status() or {}).get("evicted_total") == evicted
                and s.get("backlog") == 0
                and s.get("uploaded_total") == keep
                and s
            ),
            timeout=30,
            what="a heartbeat reporting the evictions after the drain",
        )
    assert field.stored() == {sha(f) for f in frames[-keep:]}, "the newest frames are the ones kept"
    assert status["agent_version"] and status["disk_total_bytes"] > 0


def test_a_corrupt_frame_is_skipped_with_its_reason_and_the_loop_goes_on(field, tmp_path, caplog):
    good = [jpeg(300 + i) for i in range(4)]
    truncated = jpeg(399)[:-4000]
    frames = [
        good[0],
        truncated,
        good[1],
        b"<html>502 Bad Gateway</html>",
        good[2],
        Frame(image=np.zeros((0, 0, 3), np.uint8), name="empty-array"),
        good[3],
    ]
    agent = Agent(agent_config(tmp_path, field), source=ListSource(frames))
    with caplog.at_level(logging.WARNING, logger="cropwatch.agent"), running(agent):
        wait_for(
            lambda: (
                agent.source.given == len(frames)
                and agent.outbox.backlog() == 0
                and agent.outbox.counters()["uploaded_total"] == len(good)
            ),
            what="the good frames uploaded",
        )
    assert field.stored() == {sha(g) for g in good}
    assert agent.stats.corrupt == 3
    reasons = [r.getMessage() for r in caplog.records if "skipping corrupt frame" in r.getMessage()]
    assert len(reasons) == 3, reasons
    assert "no end-of-image marker" in reasons[0] and "not_an_image" in reasons[1] and "frame empty-array" in reasons[2]


def test_edge_agent_downloads_the_model_and_its_detections_raise_alerts_on_the_server(
    field, tmp_path, models_registered
):
    """End to end with the real server: the admin turns edge detection on; the agent downloads the production INT8
    model (sha256-verified), detects on real photos and the server stores its detections (source edge) and alerts."""
    from factories import add_rule
    from helpers import rice_photos
    from sqlalchemy import select

    from cropwatch.core.enums import DetectionSource, ModelStage, ModelTask
    from cropwatch.core.orm import Alert, Camera, Capture, Detection, ModelVersion

    with field.sessions.begin() as s:
        cam = s.get(Camera, field.camera_id)
        cam.agent_config = {"edge_detection": True, "mode": "all"}
        mv = s.scalars(
            select(ModelVersion).where(ModelVersion.task == ModelTask.pest, ModelVersion.stage == ModelStage.production)
        ).one()
        int8_sha, mv_id = mv.variants["int8"]["sha256"], mv.id
        for name in mv.classes.values():
            add_rule(s, cam.cooperative_id, name, threshold=1)
    photos = [p.read_bytes() for p in rice_photos(4)]
    agent = Agent(agent_config(tmp_path, field), source=ListSource(photos))
    with running(agent):
        wait_for(
            lambda: (
                len(field.stored()) + sum(1 for _, st in field.capture_rows() if st == "done") >= 4
                and agent.outbox.backlog() == 0
            ),
            timeout=120,
            what="4 frames sent with edge detections",
        )
    assert agent.edge.sha256 == int8_sha  # the agent runs what the server announced
    with field.sessions() as s:
        caps = s.scalars(select(Capture).where(Capture.camera_id == field.camera_id)).all()
        assert len(caps) == 4 and {c.status.value for c in caps} == {"done"}
        dets = s.scalars(select(Detection).where(Detection.capture_id.in_([c.id for c in caps]))).all()
        assert (
            dets
            and {d.source for d in dets} == {DetectionSource.edge}
            and {d.model_version_id for d in dets} == {mv_id}
        )
        alerts = s.scalars(select(Alert).where(Alert.cooperative_id == caps[0].cooperative_id)).all()
        assert alerts, "edge detections raise alerts like server detections"
        for alert in alerts:  # a garden camera's day is its highest photo of that class (score ≥ rule), counted once
            per_photo = Counter(d.capture_id for d in dets if d.class_name == alert.class_name and d.score >= 0.0)
            assert alert.count == max(per_photo.values())


def test_an_upload_whose_put_landed_before_the_link_dropped_is_not_sent_again(field):
    """A direct slot's PUT landed but the confirm never got through (the link dropped): the retried upload gets a
    new URL to the same key, S3 answers its write-once PUT with 412 (the verified bytes are there) and the agent
    confirms instead of failing; one capture, stored once."""
    frame = jpeg(7, size=(300, 400))
    api = Api(field.api_url, field.token, timeout=10, connect_timeout=3)
    confirm, put, etags = api.confirm, api.put, []
    api.put = lambda url, data, signed=None: etags.append(put(url, data, signed)) or etags[-1]

    def link_drops(capture_id, body):
        field.api.down()
        try:
            return confirm(capture_id, body)
        finally:
            field.api.up()

    api.confirm = link_drops
    with pytest.raises(LinkDown):
        api.upload(frame, "2026-12-04T06:00:00+07:00")
    assert field.captures() == {sha(frame): "pending"}
    api.confirm = confirm
    result = api.upload(frame, "2026-12-04T06:00:00+07:00")
    assert not result.duplicate
    assert field.capture_rows() == [(sha(frame), "stored")]
    assert etags[0] and etags[1] is None  # the first PUT stored the frame, the second was refused as written (412)
    with field.sessions() as s:
        assert field.storage.get_bytes(s.get(Capture, result.capture_id).object_key) == frame
    api.close()
