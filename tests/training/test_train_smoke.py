"""Train one tiny epoch from the model YAML, export ONNX, and read the class names back."""

from __future__ import annotations

import ast
import socket
import time

import numpy as np
import pytest

from datasets.synthetic import generate_ripeness_dataset
from datasets.yolo import read_names

IMGSZ = 96
META = {"cropwatch_task": "ripeness", "cropwatch_dataset": "smoke-synthetic", "cropwatch_version": "0.0.0-test"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(onnx path, data.yaml, network attempts, seconds) for one epoch on 8 synthetic images."""
    from training.train import TrainConfig, export_onnx, train

    root = tmp_path_factory.mktemp("smoke")
    generate_ripeness_dataset(root / "data", counts={"train": 8, "val": 4}, imgsz=IMGSZ, seed=1)
    data_yaml = root / "data" / "data.yaml"

    attempts: list[object] = []

    def refuse(host, *args, **kwargs):
        attempts.append(host)
        raise OSError("network disabled in this test")

    t0 = time.perf_counter()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket, "getaddrinfo", refuse)
        mp.setattr(socket, "create_connection", refuse)
        cfg = TrainConfig(
            data_yaml=data_yaml, data_dir=root / "work", name="smoke", epochs=1, imgsz=IMGSZ, batch=4, seed=0
        )
        result = train(cfg)
        onnx_path = export_onnx(result.best, imgsz=IMGSZ, data_dir=root / "work", metadata=META)
    return onnx_path, data_yaml, attempts, time.perf_counter() - t0, cfg, result


@pytest.mark.slow
def test_resuming_a_finished_run_trains_nothing_and_returns_its_checkpoint(exported):
    """The pipeline died after training (the kernel killed the INT8 calibration): `--resume` goes on from the
    finished run's best checkpoint instead of failing or training again."""
    from dataclasses import replace

    from training.train import train

    *_, cfg, first = exported
    before = first.best.stat().st_mtime_ns
    again = train(replace(cfg, resume=True))
    assert again.best == first.best and again.epochs_run == 1
    assert again.best.stat().st_mtime_ns == before  # nothing was trained or rewritten
    assert again.wall_s > 0  # the logged training time, not zero


@pytest.mark.slow
def test_offline_and_fast(exported):
    onnx_path, _, attempts, seconds, *_ = exported
    assert attempts == [], f"training/export tried the network: {attempts}"
    assert onnx_path.is_file()
    assert seconds < 90


@pytest.mark.slow
def test_onnx_metadata_names_and_dynamic_batch(exported):
    import onnxruntime as ort

    onnx_path, data_yaml, *_ = exported
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    assert ast.literal_eval(meta["names"]) == read_names(data_yaml)
    assert ast.literal_eval(meta["imgsz"]) == [IMGSZ, IMGSZ]
    assert meta["task"] == "detect" and int(meta["stride"]) == 32
    for k, v in META.items():
        assert meta[k] == v
    assert ast.literal_eval(meta["args"])["dynamic"] is True

    inp = sess.get_inputs()[0]
    assert isinstance(inp.shape[0], str), "batch axis must be dynamic"
    x = np.zeros((2, 3, IMGSZ, IMGSZ), np.float32)
    (out,) = sess.run(None, {inp.name: x})
    assert out.shape[0] == 2 and out.shape[1] == 4 + len(read_names(data_yaml))


@pytest.mark.slow
def test_inference_detector_reads_the_names(exported):
    from inference.detector import OnnxDetector

    onnx_path, data_yaml, *_ = exported
    det = OnnxDetector(onnx_path)
    assert det.names == read_names(data_yaml)


@pytest.mark.slow
def test_evaluate_reports_metrics(exported, tmp_path):
    from training.evaluate import evaluate

    onnx_path, data_yaml, *_ = exported
    res = evaluate(onnx_path, data_yaml, imgsz=IMGSZ, data_dir=tmp_path, split="val", batch=4)
    assert 0.0 <= res.map50_95 <= res.map50 <= 1.0
    assert set(res.per_class) <= {0, 1, 2, 3}
    assert set(res.as_dict()) >= {"map50", "map50_95", "precision", "recall", "per_class"}


def test_onnx_metadata_helper_keeps_existing_keys(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    from training.train import add_onnx_metadata

    node = helper.make_node("Identity", ["x"], ["y"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph)
    model.metadata_props.add(key="names", value="{0: 'a'}")
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    add_onnx_metadata(path, {"cropwatch_task": "pest", "names": "{0: 'b'}"})
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props == {"names": "{0: 'b'}", "cropwatch_task": "pest"}
