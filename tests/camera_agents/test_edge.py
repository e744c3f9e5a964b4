"""Edge detection on the agent: the crop mosaic (pixels and remapped boxes), the model kept in step with the server's
(sha256-verified download, swap without a restart, a bad download keeps the old model), and the modes
`all` / `detections` / `crops` deciding what goes into the outbox."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from agent_testkit import ListSource

from camera_agents.agent import Agent
from camera_agents.config import AgentConfig, ModelRef
from camera_agents.edge_detector import EdgeDetector, EdgeResult, crop_mosaic
from camera_agents.sources import Frame
from camera_agents.uploader import Refused
from inference.detections import DetectionRecord

PROJECT = Path(__file__).resolve().parents[2]
MODEL = PROJECT / "models" / "pest" / "pest-rice-yolo11n.int8.onnx"
FP32 = PROJECT / "models" / "pest" / "pest-rice-yolo11n.onnx"
PHOTOS = PROJECT.parent / "shared" / "datasets" / "rice-pests" / "images" / "test"


def test_crop_mosaic_holds_the_pixels_under_every_remapped_box():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (900, 1600, 3), dtype=np.uint8)
    dets = [
        DetectionRecord(0, "a", 0.9, (100, 120, 160, 200)),
        DetectionRecord(1, "b", 0.8, (150, 150, 210, 230)),  # overlaps the first: one crop
        DetectionRecord(2, "c", 0.7, (1400, 700, 1590, 890)),  # at the border
        DetectionRecord(3, "d", 0.6, (800, 10, 805, 14)),
    ]  # tiny: min_side context
    mosaic, out = crop_mosaic(img, dets, margin=0.25, min_side=64)
    assert mosaic.shape[0] * mosaic.shape[1] < img.shape[0] * img.shape[1] / 4
    assert [(d.class_id, d.class_name, d.score) for d in out] == [(d.class_id, d.class_name, d.score) for d in dets]
    for d, m in zip(dets, out):
        x1, y1, x2, y2 = map(int, d.xyxy)
        mx1, my1, mx2, my2 = map(int, m.xyxy)
        assert (mx2 - mx1, my2 - my1) == (x2 - x1, y2 - y1)
        assert np.array_equal(mosaic[my1:my2, mx1:mx2], img[y1:y2, x1:x2])
    with pytest.raises(ValueError):
        crop_mosaic(img, [])


def test_the_shipped_model_runs_on_the_agent_and_reports_its_sha256(tmp_path):
    edge = EdgeDetector(tmp_path / "models", conf=0.05, threads=1)
    edge.load(MODEL)
    photo = cv2.imread(str(next(PHOTOS.glob("*.jpg"))))
    res = edge.detect(photo)
    assert res.model_sha256 == hashlib.sha256(MODEL.read_bytes()).hexdigest()
    assert res.duration_ms > 0 and res.detections, "conf 0.05 on a pest photo finds something"
    d = res.detections[0]
    assert edge._detector.names[d.class_id] == d.class_name and d.xyxy[0] < d.xyxy[2]
    wire = res.body()["detections"][0]
    assert set(wire) == {"class_id", "class_name", "score", "xyxy"}, "the agent sends the one detection record"


class ModelServer:
    def __init__(self, path: Path) -> None:
        self.path, self.calls = path, 0

    def download_model(self, url, dest, sha):
        self.calls += 1
        shutil.copy(self.path, dest)
        got = hashlib.sha256(Path(dest).read_bytes()).hexdigest()
        if got != sha:
            raise Refused(0, "model_sha256_mismatch", got)
        return got


def test_the_server_model_is_downloaded_verified_and_swapped_without_a_restart(tmp_path):
    edge = EdgeDetector(tmp_path / "models", threads=1)
    fp32_sha = hashlib.sha256(FP32.read_bytes()).hexdigest()
    int8_sha = hashlib.sha256(MODEL.read_bytes()).hexdigest()
    assert edge.ensure(ModelRef(sha256=fp32_sha), ModelServer(FP32))
    assert edge.sha256 == fp32_sha
    srv = ModelServer(MODEL)
    assert not edge.ensure(ModelRef(sha256=fp32_sha), srv) and srv.calls == 0  # same model: nothing to do
    # a download that does not match the announced sha256 keeps the old model serving
    with pytest.raises(Refused):
        edge.ensure(ModelRef(sha256="ab" * 32), srv)
    assert edge.sha256 == fp32_sha and not list((tmp_path / "models").glob(".*.download"))
    assert edge.ensure(ModelRef(sha256=int8_sha), srv) and edge.sha256 == int8_sha
    assert sorted(p.name for p in (tmp_path / "models").glob("*.onnx")) == [f"{int8_sha}.onnx"]
    again = EdgeDetector(tmp_path / "models", threads=1)  # after a restart: the same model
    assert again.load_current() and again.sha256 == int8_sha


class FakeEdge:
    """Detections scripted per frame (by the frame's mean grey level)."""

    ready = True
    sha256 = "cd" * 32

    def __init__(self, boxes_for: dict[int, list]) -> None:
        self.boxes_for = boxes_for

    def detect(self, img):
        boxes = self.boxes_for.get(int(img[0, 0, 0]), [])
        return EdgeResult(self.sha256, 12.0, [DetectionRecord(6, "planthopper", 0.7, tuple(b)) for b in boxes])


def _agent(tmp_path, mode: str, edge) -> Agent:
    cfg = AgentConfig()
    cfg.agent.data_dir = str(tmp_path / "agent")
    cfg.outbox.min_free_mb = 0
    cfg.edge.edge_detection, cfg.edge.mode = True, mode
    return Agent(cfg.validate(), source=ListSource([]), edge=edge, api=_NoApi())


class _NoApi:
    bucket = None

    def close(self) -> None:
        pass


def _frame(level: int) -> Frame:
    img = np.full((480, 640, 3), level, np.uint8)
    return Frame(
        image=img,
        name=f"grey-{level}",
        captured_at=dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=level),
    )


def test_mode_all_sends_every_frame_with_its_detections_and_flags_those_with_some(tmp_path):
    agent = _agent(tmp_path, "all", FakeEdge({10: [[5, 5, 50, 50]]}))
    assert agent.process(_frame(10)) and agent.process(_frame(20))
    first, second = agent.outbox.next_due(), None
    agent.outbox.uploaded(first)
    second = agent.outbox.next_due()
    assert first.flagged and first.edge["detections"][0]["xyxy"] == [5, 5, 50, 50]
    assert first.edge["model_sha256"] == "cd" * 32 and first.kind == "frame"
    assert not second.flagged and second.edge["detections"] == []


def test_mode_detections_sends_frames_with_detections_and_one_picture_an_hour(tmp_path, monkeypatch):
    agent = _agent(tmp_path, "detections", FakeEdge({30: [[1, 1, 9, 9]]}))
    t = [10_000.0]
    monkeypatch.setattr("camera_agents.agent.time.time", lambda: t[0])
    assert agent.process(_frame(1))  # the first frame: the hourly picture
    t[0] += 600
    assert not agent.process(_frame(2))  # nothing seen, picture sent 10 min ago
    assert agent.process(_frame(30))  # a detection
    t[0] += 3600
    assert agent.process(_frame(3))  # an hour later: a picture again
    assert agent.outbox.backlog() == 3 and agent.stats.skipped_no_detection == 1


def test_mode_crops_sends_a_mosaic_with_boxes_in_its_coordinates(tmp_path):
    agent = _agent(tmp_path, "crops", FakeEdge({40: [[100, 100, 140, 150], [500, 300, 560, 380]]}))
    agent.last_picture_ts = 1e18  # no hourly picture due
    assert not agent.process(_frame(5))
    frame = _frame(40)
    frame.image[100:150, 100:140] = 200
    assert agent.process(frame)
    entry = agent.outbox.next_due()
    assert entry.kind == "crops" and entry.flagged
    mosaic = cv2.imdecode(np.frombuffer(entry.read(), np.uint8), cv2.IMREAD_COLOR)
    assert mosaic.shape[0] * mosaic.shape[1] < 480 * 640 / 4
    x1, y1, x2, y2 = map(int, entry.edge["detections"][0]["xyxy"])
    assert abs(int(mosaic[y1:y2, x1:x2].mean()) - 200) < 6  # the crop under its box (JPEG noise aside)


def test_without_a_model_yet_every_frame_is_sent(tmp_path):
    empty = EdgeDetector(tmp_path / "models")
    agent = _agent(tmp_path, "detections", empty)
    assert agent.process(_frame(1)) and agent.process(_frame(2))
    assert agent.outbox.next_due().edge is None


def test_a_model_that_does_not_load_is_reported_not_swallowed(tmp_path):
    """Issue 15: edge detection on but the model cannot load (a broken file, a missing package): the camera keeps
    sending every frame, and the reason is in the heartbeat's last_error and in ``doctor``."""
    from camera_agents.doctor import FAIL, check_edge_model

    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    cfg = AgentConfig()
    cfg.agent.data_dir = str(tmp_path / "agent")
    cfg.outbox.min_free_mb = 0
    cfg.edge.edge_detection, cfg.edge.mode, cfg.edge.model_path = True, "detections", str(broken)
    agent = Agent(cfg.validate(), source=ListSource([]), api=_NoApi())
    assert agent.last_error is not None and "broken.onnx" in agent.last_error
    assert agent.process(_frame(1)) and agent.outbox.next_due().edge is None  # nothing lost meanwhile
    check = check_edge_model(cfg)
    assert check.status == FAIL and "broken.onnx" in check.detail


def test_one_frame_gives_the_same_detections_at_the_edge_and_on_the_server(
    sessions, storage, settings, models_registered, tmp_path
):
    """Issue 13: confidence, NMS IoU and max detections come with the model version, so the agent (which used NMS
    IoU 0.7) and the worker (0.45) no longer count the same frame differently. The agent's settings arrive in the
    camera configuration the server answers; the worker's come from the registry."""
    from factories import make_tenant

    from cropwatch.captures import edge_protocol as server_edge
    from cropwatch.core.enums import ModelTask
    from cropwatch.core.orm import Camera, ModelVersion
    from cropwatch.worker.model_cache import ModelCache
    from inference.decode import decode_image

    worker_settings = settings.model_copy(update={"detect_conf": None, "detect_iou": None, "model_variant": "int8"})
    with sessions.begin() as s:
        tenant = make_tenant(s, "parity")
        mv = s.get(ModelVersion, models_registered["pest"])
        mv.detect_settings = {"conf": 0.2, "iou": 0.5, "max_det": 50}  # not the defaults of either side
        config = server_edge.agent_config(s, s.get(Camera, tenant.camera_id))
    assert config["model"]["detect"] == {"conf": 0.2, "iou": 0.5, "max_det": 50}
    ref = ModelRef(**{k: v for k, v in config["model"].items() if k in ModelRef.__dataclass_fields__})
    agent = EdgeDetector(tmp_path / "models", conf=0.25)
    shutil.copyfile(MODEL, tmp_path / "models" / f"{ref.sha256}.onnx")  # as if downloaded
    assert agent.ensure(ref, api=None)
    cache = ModelCache(worker_settings, storage)
    with sessions() as s:
        _, server = cache.get(s, ModelTask.pest, tenant.cooperative_id)
    compared = 0
    for photo in sorted(PHOTOS.glob("*.jpg"))[:8]:
        image = decode_image(photo.read_bytes())
        at_edge = agent.detect(image).detections
        on_server = server.predict_batch([image])[0]
        assert at_edge == on_server.records(server.names), "the same records at the edge as on the server"
        compared += len(at_edge)
    assert compared > 0, "the frames gave no detection to compare"
