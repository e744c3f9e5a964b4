"""Frame sources behind one interface: OpenCV (a video file stands in for a USB/RTSP device), a watched drop
folder, an HTTP snapshot URL, the simulator; and the configuration that picks one."""

from __future__ import annotations

import datetime as dt
import os

import cv2
import httpx
import numpy as np
import pytest

from camera_agents.config import CameraConfig
from camera_agents.sources import (
    FolderSource,
    HttpSnapshotSource,
    OpenCVSource,
    SimulatorSource,
    SourceError,
    make_source,
)


def _jpeg(value: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.full((48, 64, 3), value, np.uint8))
    return buf.tobytes()


def test_opencv_grabs_one_frame_per_call_from_a_stream(tmp_path):
    video = tmp_path / "cam.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (64, 48))
    for i in range(10):
        w.write(np.full((48, 64, 3), 20 * i, np.uint8))
    w.release()
    src = OpenCVSource(str(video), warmup_frames=2, keep_open=True)
    first, second = src.grab(), src.grab()
    assert first.image.shape == (48, 64, 3) and first.data is None
    assert second.image.mean() > first.image.mean()  # the stream moved on
    src.close()
    with pytest.raises(SourceError):
        OpenCVSource(str(tmp_path / "no-such-camera.avi")).grab()


def test_folder_takes_settled_files_oldest_first_and_removes_them_once_buffered(tmp_path):
    now = [1000.0]
    src = FolderSource(tmp_path, settle_s=2, clock=lambda: now[0])
    (tmp_path / "b.jpg").write_bytes(_jpeg(1))
    (tmp_path / "a.JPG").write_bytes(_jpeg(2))
    (tmp_path / "notes.txt").write_text("not a photo")
    os.utime(tmp_path / "b.jpg", (1, 1))  # the trail camera's clock: b was shot first
    assert src.grab() is None  # just appeared: maybe still being written
    now[0] += 3
    first = src.grab()
    assert first.name == "b.jpg" and first.captured_at == dt.datetime.fromtimestamp(1, dt.timezone.utc)
    second = src.grab()
    assert second.name == "a.JPG"
    assert src.grab() is None  # handed out, not yet acknowledged: not given twice
    first.done(True)
    second.done(False)  # corrupt: kept aside for a look
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "rejected"]
    assert (tmp_path / "rejected" / "a.JPG").exists()


def test_folder_leaves_a_file_that_is_still_growing(tmp_path):
    now = [0.0]
    src = FolderSource(tmp_path, settle_s=1, clock=lambda: now[0])
    f = tmp_path / "upload.jpg"
    f.write_bytes(b"\xff\xd8\xff partial")
    src.grab()
    now[0] = 0.9
    with open(f, "ab") as fh:
        fh.write(b"more bytes")
    now[0] = 1.5
    assert src.grab() is None  # changed since first seen: the clock restarts
    now[0] = 3.0
    assert src.grab().name == "upload.jpg"


def test_folder_move_mode(tmp_path):
    src = FolderSource(tmp_path, settle_s=0, after="move")
    (tmp_path / "x.jpg").write_bytes(_jpeg(3))
    src.grab().done(True)
    assert (tmp_path / "done" / "x.jpg").exists()


def test_http_snapshot():
    body = _jpeg(5)

    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body) if req.url.path == "/snap.jpg" else httpx.Response(500)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    assert HttpSnapshotSource("http://cam/snap.jpg", client=client).grab().data == body
    with pytest.raises(SourceError, match="HTTP 500"):
        HttpSnapshotSource("http://cam/broken", client=client).grab()


def test_simulator_synthetic_and_folder(tmp_path):
    syn = SimulatorSource(seed=3, size=128)
    a, b = syn.grab(), syn.grab()
    assert a.image.shape == (128, 128, 3) and not np.array_equal(a.image, b.image)
    for i in range(2):
        (tmp_path / f"p{i}.jpg").write_bytes(_jpeg(10 * i))
    fol = SimulatorSource(tmp_path, seed=1)
    datas = [fol.grab().data for _ in range(4)]
    assert len(set(datas)) == 4  # second pass re-shot: new bytes


def test_make_source_from_config(tmp_path):
    assert isinstance(make_source(CameraConfig(source="folder", path=str(tmp_path))), FolderSource)
    assert isinstance(make_source(CameraConfig(source="opencv", device="0")), OpenCVSource)
    assert make_source(CameraConfig(source="opencv", device="rtsp://cam/stream")).device == "rtsp://cam/stream"
    with pytest.raises(SourceError):
        make_source(CameraConfig(source="folder", path=""))
