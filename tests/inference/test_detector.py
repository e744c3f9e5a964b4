"""OnnxDetector: metadata, batching, model safety checks, execution providers, no torch on the hot path."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from inference.detections import Detections
from inference.detector import ModelRejected, OnnxDetector
from inference.providers import PROVIDER_CHAINS, resolve_providers

NAMES = {
    0: "grasshopper",
    1: "rice_bug",
    2: "leaf_roller",
    3: "stem_borer",
    4: "caterpillar",
    5: "ear_bug",
    6: "planthopper",
}


def tiny_model(path: Path, *, names=NAMES, task="detect", out_channels=11, nan=False, input_rank=4, meta=None) -> Path:
    """A hand-built ONNX graph with Ultralytics-style metadata: Conv1x1 -> reshape (B, C, H*W) -> sigmoid/sqrt."""
    from onnx import TensorProto, checker, helper, numpy_helper, save

    dims = ["batch", 3, "height", "width"][4 - input_rank :]
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, dims)
    y = helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", "channels", "anchors"])
    inits, nodes = [], []
    if input_rank == 4:
        inits = [
            numpy_helper.from_array(np.full((out_channels, 3, 1, 1), 0.1, np.float32), "w"),
            numpy_helper.from_array(np.array([0, out_channels, -1], np.int64), "shape"),
        ]
        nodes = [
            helper.make_node("Conv", ["images", "w"], ["c"]),
            helper.make_node("Reshape", ["c", "shape"], ["r"]),
            *(
                [helper.make_node("Neg", ["r"], ["n"]), helper.make_node("Sqrt", ["n"], ["output0"])]
                if nan
                else [helper.make_node("Sigmoid", ["r"], ["output0"])]
            ),
        ]
    else:
        nodes = [helper.make_node("Identity", ["images"], ["output0"])]
    graph = helper.make_graph(nodes, "tiny", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    props = {"stride": "32", "imgsz": "[64, 64]", "task": task, "names": repr(names), **(meta or {})}
    for k, v in props.items():
        if v is not None:
            model.metadata_props.add(key=k, value=v)
    checker.check_model(model)
    save(model, path)
    return path


@pytest.fixture(scope="module")
def detector(random_onnx) -> OnnxDetector:
    return OnnxDetector(random_onnx, threads=1, conf=0.01)


# -- metadata -------------------------------------------------------------------------------------------------------
def test_metadata(detector, random_onnx):
    assert detector.names == NAMES
    assert detector.imgsz == (320, 320) and detector.stride == 32 and detector.dynamic
    assert detector.task == "detect" and detector.cropwatch_task == "pest" and not detector.end2end
    assert detector.sha256 == hashlib.sha256(random_onnx.read_bytes()).hexdigest()
    assert detector.provider == "cpu"
    opts = detector.session.get_session_options()
    assert opts.intra_op_num_threads == 1 and opts.inter_op_num_threads == 1
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"  # no busy-waiting between calls
    assert random_onnx.name in repr(detector)


def test_expected_sha256_accepts_matching_hash(random_onnx):
    digest = hashlib.sha256(random_onnx.read_bytes()).hexdigest().upper()
    assert OnnxDetector(random_onnx, expected_sha256=digest).sha256 == digest.lower()


# -- model safety ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "damage, reason",
    [
        ("missing", "missing"),
        ("empty", "corrupt"),
        ("garbage", "corrupt"),
        ("truncated", "corrupt"),
        ("flipped", "corrupt"),
        ("wrong_sha", "sha256_mismatch"),
    ],
)
def test_model_rejected(random_onnx, tmp_path, damage, reason):
    data = random_onnx.read_bytes()
    path = tmp_path / "model.onnx"
    kwargs = {}
    if damage == "empty":
        path.write_bytes(b"")
    elif damage == "garbage":
        path.write_bytes(os.urandom(4096))
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flipped":  # protobuf header damaged
        path.write_bytes(b"\xff" * 64 + data[64:])
    elif damage == "wrong_sha":
        path.write_bytes(data)
        kwargs["expected_sha256"] = "0" * 64
    with pytest.raises(ModelRejected) as info:
        OnnxDetector(path, **kwargs)
    assert info.value.reason == reason
    assert str(path) in str(info.value) and reason in str(info.value)


@pytest.mark.parametrize(
    "kwargs, reason, text",
    [
        ({}, None, None),  # the tiny model itself is fine
        ({"names": {0: "a", 1: "b", 2: "c"}}, "incompatible", "expected 7"),
        ({"names": None}, "incompatible", "no class names"),
        ({"names": {0: "a", 2: "b"}, "out_channels": 6}, "incompatible", "class ids"),
        ({"task": "segment"}, "incompatible", "not object detection"),
        ({"input_rank": 3}, "incompatible", "4-D"),
        ({"nan": True}, "smoke_failed", "NaN"),
        ({"out_channels": 12}, "incompatible", "expected 11"),
    ],
)
def test_incompatible_models(tmp_path, kwargs, reason, text):
    path = tiny_model(tmp_path / "tiny.onnx", **kwargs)
    if reason is None:
        det = OnnxDetector(path)
        assert det.imgsz == (64, 64) and det.names == NAMES
        assert isinstance(det(np.zeros((48, 64, 3), np.uint8)), Detections)
        return
    with pytest.raises(ModelRejected) as info:
        OnnxDetector(path)
    assert info.value.reason == reason and text in str(info.value)


# -- predictions ----------------------------------------------------------------------------------------------------
def assert_identical(a, b):
    assert len(a) == len(b)
    np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1e-3)
    np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-5)
    np.testing.assert_array_equal(a.class_id, b.class_id)


def test_batch_of_three_equals_three_single_calls(detector, photos, monkeypatch):
    calls = []
    forward = detector.forward
    monkeypatch.setattr(detector, "forward", lambda x: calls.append(x.shape) or forward(x))
    batch = detector.predict_batch(photos[:3])
    assert calls == [(3, 3, 320, 320)], "same-shaped images go through one session call"
    singles = [detector(p) for p in photos[:3]]
    assert len(batch) == 3 and all(len(d) > 50 for d in batch)
    for a, b in zip(batch, singles):
        assert_identical(a, b)


def test_mixed_shapes_batch_groups_by_letterbox(detector, photo_shapes, monkeypatch):
    images = list(photo_shapes.values()) + [photo_shapes["640x480"]]
    calls = []
    forward = detector.forward
    monkeypatch.setattr(detector, "forward", lambda x: calls.append(x.shape[0]) or forward(x))
    batch = detector.predict_batch(images)
    assert sorted(calls) == [1, 1, 1, 1, 2]  # 640x480 twice; each other shape its own letterbox
    for img, det in zip(images, batch):
        assert_identical(det, detector(img))
        h, w = img.shape[:2]
        assert det.xyxy[:, 0::2].max() <= w and det.xyxy[:, 1::2].max() <= h and det.xyxy.min() >= 0


def test_max_batch_chunks(random_onnx, photos, monkeypatch):
    det = OnnxDetector(random_onnx, max_batch=2, conf=0.01)
    calls = []
    forward = det.forward
    monkeypatch.setattr(det, "forward", lambda x: calls.append(x.shape[0]) or forward(x))
    assert len(det.predict_batch(photos)) == 4 and calls == [2, 2]
    assert det.predict_batch([]) == []


def test_thresholds_per_call(detector, photos):
    loose = detector(photos[0])
    assert len(loose) and (loose.confidence > 0.01).all()
    assert np.all(np.diff(loose.confidence) <= 0), "sorted by score"
    strict = detector(photos[0], conf=0.2)
    assert 0 < len(strict) < len(loose) and (strict.confidence > 0.2).all()
    assert len(detector(photos[0], max_det=5)) == 5
    assert len(detector(photos[0], iou=0.3)) < len(detector(photos[0], iou=0.9, max_det=10_000))
    none = detector(photos[0], conf=0.999)
    assert len(none) == 0 and none.xyxy.shape == (0, 4)


def test_defaults_follow_ultralytics_predict(random_onnx):
    det = OnnxDetector(random_onnx)
    assert (det.conf, det.iou, det.max_det, det.agnostic) == (0.25, 0.7, 300, False)


# -- providers ------------------------------------------------------------------------------------------------------
def test_missing_provider_falls_back_to_cpu(random_onnx, caplog):
    with caplog.at_level(logging.WARNING, logger="inference.providers"):
        det = OnnxDetector(random_onnx, provider="cuda")
    assert det.provider == "cpu"
    assert "CUDAExecutionProvider" in caplog.text and "using CPUExecutionProvider" in caplog.text


@pytest.mark.parametrize(
    "name, available, expected",
    [
        ("cpu", ["CPUExecutionProvider"], ["CPUExecutionProvider"]),
        ("cuda", ["CUDAExecutionProvider", "CPUExecutionProvider"], ["CUDAExecutionProvider", "CPUExecutionProvider"]),
        (
            "tensorrt",
            ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
            list(PROVIDER_CHAINS["tensorrt"]),
        ),
        (
            "tensorrt",
            ["CUDAExecutionProvider", "CPUExecutionProvider"],
            ["CUDAExecutionProvider", "CPUExecutionProvider"],
        ),
        ("openvino", ["CPUExecutionProvider"], ["CPUExecutionProvider"]),
    ],
)
def test_resolve_providers(name, available, expected):
    assert resolve_providers(name, available) == expected


def test_unknown_provider():
    with pytest.raises(ValueError):
        resolve_providers("tpu")


# -- hot path -------------------------------------------------------------------------------------------------------
def test_hot_path_imports_neither_torch_nor_ultralytics(random_onnx, photo_files):
    code = (
        "import sys\n"
        "from inference import OnnxDetector, decode_image\n"
        f"det = OnnxDetector({str(random_onnx)!r}, threads=1)\n"
        f"det(decode_image(open({str(photo_files[0])!r}, 'rb').read()))\n"
        "print(sorted(m for m in ('torch', 'ultralytics', 'torchvision') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_parallel_batches_give_the_single_call_results(random_onnx, photos, photo_shapes):
    """A batch spread over two single-threaded calls at once returns, image by image, what single calls return."""
    par = OnnxDetector(random_onnx, conf=0.01, threads=2, parallel=2)
    seq = OnnxDetector(random_onnx, conf=0.01, threads=2, parallel=1)
    images = list(photos) + list(photo_shapes.values())
    batch = par.predict_batch(images)
    assert len(batch) == len(images)
    for img, det in zip(images, batch):
        assert_identical(det, seq(img))
    assert par._par_session is not None, "the parallel path was not taken"
