"""The bootstrap models in models/ match their cards."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from models.registry import card_files
from training.model_card import sha256_file
from training.recipes import RECIPES

MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture(params=sorted(RECIPES))
def shipped(request) -> tuple[str, Path, dict]:
    recipe = RECIPES[request.param]
    folder = MODELS / recipe.task
    card_path, _ = card_files(folder, recipe.model_name)
    assert card_path.is_file(), f"{card_path} missing: run python -m training {request.param}"
    return request.param, folder, json.loads(card_path.read_text(encoding="utf-8"))


def _markdown(folder: Path, card: dict) -> str:
    return card_files(folder, card["model"])[1].read_text(encoding="utf-8")


def test_card_matches_the_onnx_file(shipped):
    task, folder, card = shipped
    onnx_path = folder / card["file"]
    assert card["file"] == f"{RECIPES[task].model_name}.onnx"
    assert onnx_path.is_file()
    assert sha256_file(onnx_path) == card["sha256"]
    assert onnx_path.stat().st_size == card["size_bytes"] < 12_000_000
    assert card_files(folder, card["model"])[1].is_file()


def test_card_content(shipped):
    task, folder, card = shipped
    recipe = RECIPES[task]
    assert card["task"] == recipe.task
    assert card["names"] == {str(k): v for k, v in recipe.names.items()}
    assert card["names_vi"] == {str(k): v for k, v in recipe.names_vi.items()}
    for key in ("map50", "map50_95", "precision", "recall", "per_class"):
        assert key in card["metrics"]
    assert card["metrics"]["split"] == "test"
    assert card["latency"]["median_ms"] > 0
    assert f"python -m training {task}" in card["reproduce"]
    assert card["recipe"]["epochs"] == recipe.epochs
    assert card["recipe"]["seed"] == recipe.seed and card["recipe"]["imgsz"] == recipe.imgsz
    md = _markdown(folder, card)
    assert card["sha256"] in md
    assert RECIPES[task].license in card["dataset"]["license"] and RECIPES[task].attribution in md
    if "NC" in RECIPES[task].license:  # a non-commercial licence is the first thing the card says
        assert md.index("NON-COMMERCIAL") < md.index("## Classes")
    assert card["start"]["note"] in md.split("\n")[2], "the card's first line says how training started"


def test_onnx_metadata_matches_card(shipped):
    import onnxruntime as ort

    task, folder, card = shipped
    sess = ort.InferenceSession(str(folder / card["file"]), providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    assert meta["cropwatch_task"] == RECIPES[task].task
    assert meta["cropwatch_dataset"] == RECIPES[task].dataset
    assert meta["cropwatch_version"] == card["cropwatch_version"]
    assert {str(k): v for k, v in ast.literal_eval(meta["names"]).items()} == card["names"]
    assert ast.literal_eval(meta["imgsz"]) == [card["input"]["imgsz"]] * 2
    assert isinstance(sess.get_inputs()[0].shape[0], str)  # dynamic batch


def test_int8_variant_ships_only_within_one_point_of_map50(shipped):
    _, folder, card = shipped
    int8 = card["variants"]["int8"]
    path = folder / int8["file"]
    drop = card["metrics"]["map50"] - int8["metrics"]["map50"]
    assert "INT8 variant" in _markdown(folder, card)
    if drop > 0.01 + 1e-9:  # more than 1 point lost: the INT8 file is not shipped, and the card says why
        assert int8["refused"].startswith("not shipped") and f"{drop * 100:.1f} points" in int8["refused"]
        assert not path.exists() and int8["refused"] in _markdown(folder, card)
    else:
        assert "refused" not in int8
        assert path.is_file() and sha256_file(path) == int8["sha256"]
