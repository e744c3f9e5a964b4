"""Where training starts: a pretrained checkpoint is checked before anything else, a bad one is refused with the
file's name and the reason, and with no checkpoint at all the run says it trains from scratch."""

from __future__ import annotations

import zipfile

import pytest

from training import start_weights
from training.start_weights import CheckpointError, check_checkpoint, resolve_start


def test_the_shared_checkpoint_is_a_detection_model_with_80_classes():
    if not start_weights.SHARED_WEIGHTS.is_file():
        pytest.skip(f"no shared checkpoint at {start_weights.SHARED_WEIGHTS}")
    assert check_checkpoint(start_weights.SHARED_WEIGHTS) == 80
    start = resolve_start("pretrained")
    assert start.kind == "pretrained" and start.classes == 80 and len(start.sha256) == 64


def _truncated(path):
    """A real checkpoint cut off halfway, as a failed copy leaves it."""
    import torch

    torch.save({"model": {"w": torch.zeros(1000)}}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda p: p.write_bytes(b"\x00garbage" * 100), "not a PyTorch checkpoint"),
        (lambda p: _truncated(p), "not a PyTorch checkpoint"),
        (lambda p: zipfile.ZipFile(p, "w").writestr("x/data.pkl", b"not a pickle"), "cannot be read"),
    ],
)
def test_a_corrupt_checkpoint_is_refused_naming_the_file(tmp_path, make, reason):
    path = tmp_path / "bad.pt"
    make(path)
    with pytest.raises(CheckpointError) as err:
        check_checkpoint(path)
    assert str(path) in str(err.value) and reason in str(err.value)


def test_a_checkpoint_without_a_detection_model_is_refused(tmp_path):
    import torch

    path = tmp_path / "weights-only.pt"
    torch.save({"model": {"layer.weight": torch.zeros(2)}}, path)
    with pytest.raises(CheckpointError, match="holds no Ultralytics model"):
        check_checkpoint(path)


def test_the_environment_names_the_checkpoint_and_a_missing_one_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(start_weights.ENV, str(tmp_path / "nowhere.pt"))
    with pytest.raises(CheckpointError, match="names no file"):
        resolve_start("pretrained")


def test_with_no_checkpoint_anywhere_training_says_it_starts_from_scratch(monkeypatch, tmp_path):
    monkeypatch.delenv(start_weights.ENV, raising=False)
    monkeypatch.setattr(start_weights, "SHARED_WEIGHTS", tmp_path / "absent.pt")
    start = resolve_start("pretrained")
    assert start.kind == "scratch" and start.model == "yolo11n.yaml" and "from scratch" in start.note
