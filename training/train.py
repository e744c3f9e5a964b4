"""Train a YOLO detector from its model YAML (no pretrained download), offline, and export it to ONNX."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx

from training.offline import load_ultralytics


@dataclass(frozen=True)
class TrainConfig:
    data_yaml: Path
    data_dir: Path  # runs are written under <data_dir>/runs/<name>
    name: str
    epochs: int
    imgsz: int
    batch: int = 16
    seed: int = 0
    model_yaml: str = "yolo11n.yaml"
    threads: int = 2
    patience: int = 100
    overrides: dict[str, Any] = field(default_factory=dict)  # any further Ultralytics train argument
    resume: bool = False  # continue <run>/weights/last.pt when it exists (a run cut short by a session's end)

    @property
    def last_checkpoint(self) -> Path:
        return Path(self.data_dir).resolve() / "runs" / self.name / "weights" / "last.pt"

    def train_args(self) -> dict[str, Any]:
        return {
            "data": str(Path(self.data_yaml).resolve()),
            "epochs": self.epochs,
            "imgsz": self.imgsz,
            "batch": self.batch,
            "seed": self.seed,
            "deterministic": True,
            "device": "cpu",
            "workers": 0,
            "amp": False,
            "plots": False,
            # Ultralytics (8.4) drops a loaded checkpoint's weights when pretrained is False: keep them for a .pt
            "pretrained": str(self.model_yaml).endswith(".pt"),
            "patience": self.patience,
            "project": str(Path(self.data_dir).resolve() / "runs"),
            "name": self.name,
            "exist_ok": True,
            "verbose": True,
            **self.overrides,
        }


@dataclass(frozen=True)
class TrainResult:
    best: Path
    run_dir: Path
    wall_s: float
    epochs_run: int


def finished_run(cfg: TrainConfig) -> TrainResult | None:
    """The run in ``cfg``'s folder when it trained to its last epoch (Ultralytics marks a finished checkpoint with
    epoch -1 and strips its optimizer), else None."""
    import torch

    ckpt = torch.load(cfg.last_checkpoint, map_location="cpu", weights_only=False)
    if ckpt.get("epoch") != -1:
        return None
    run_dir = cfg.last_checkpoint.parent.parent
    best = run_dir / "weights" / "best.pt"
    epochs = int((ckpt.get("train_args") or {}).get("epochs") or cfg.epochs)
    return TrainResult(
        best=best if best.is_file() else cfg.last_checkpoint,
        run_dir=run_dir,
        wall_s=_trained_seconds(run_dir / "results.csv"),
        epochs_run=epochs,
    )


def _trained_seconds(results_csv: Path) -> float:
    """The run's training time as Ultralytics logged it (the ``time`` column is cumulative seconds)."""
    import csv

    try:
        rows = list(csv.DictReader(results_csv.open()))
        return float(rows[-1]["time"]) if rows else 0.0
    except (OSError, KeyError, ValueError):
        return 0.0


def train(cfg: TrainConfig, on_epoch: Callable[[int, int, dict[str, float]], None] | None = None) -> TrainResult:
    """Train from ``cfg.model_yaml`` (a model YAML, or a ``.pt`` to fine-tune); return the best checkpoint (by
    validation fitness). ``on_epoch(epoch, epochs, metrics)`` is called after each epoch's validation."""
    load_ultralytics(cfg.data_dir, cfg.threads)
    from ultralytics import YOLO

    resuming = cfg.resume and cfg.last_checkpoint.is_file()
    if resuming and (done := finished_run(cfg)) is not None:
        return done  # trained to the end before (the pipeline stopped later, e.g. in quantization): no new epochs
    model = YOLO(str(cfg.last_checkpoint) if resuming else cfg.model_yaml, task="detect")
    if on_epoch is not None:
        model.add_callback(
            "on_fit_epoch_end",
            lambda tr: on_epoch(
                int(tr.epoch) + 1, int(tr.epochs), {k: float(v) for k, v in (tr.metrics or {}).items()}
            ),
        )
    t0 = time.perf_counter()
    model.train(**({"resume": True} if resuming else cfg.train_args()))
    wall = time.perf_counter() - t0
    trainer = model.trainer
    best = Path(trainer.best if Path(trainer.best).is_file() else trainer.last)
    return TrainResult(best=best, run_dir=Path(trainer.save_dir), wall_s=wall, epochs_run=int(trainer.epoch) + 1)


def add_onnx_metadata(path: Path, extra: dict[str, str]) -> None:
    """Add (or replace) string metadata keys in an ONNX file, keeping the keys already there."""
    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props}
    props.update({k: str(v) for k, v in extra.items()})
    del model.metadata_props[:]
    for k, v in props.items():
        model.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def export_onnx(weights: Path, *, imgsz: int, data_dir: Path, metadata: dict[str, str], threads: int = 2) -> Path:
    """Export ``weights`` to ONNX (dynamic batch/size, simplified) and add CropWatch metadata keys.

    Ultralytics writes its own metadata (names, imgsz, stride, task, ...) into the file; those stay.
    """
    load_ultralytics(data_dir, threads)
    from ultralytics import YOLO

    out = YOLO(str(weights), task="detect").export(
        format="onnx", dynamic=True, simplify=True, imgsz=imgsz, device="cpu", nms=False
    )
    path = Path(out)
    add_onnx_metadata(path, metadata)
    return path
