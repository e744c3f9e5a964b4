"""Where a training run starts: a pretrained checkpoint on disk, a model YAML (from scratch), or a given ``.pt``.

Nothing is downloaded. ``pretrained`` resolves, in order, to ``CROPWATCH_PRETRAINED_WEIGHTS`` (an operator's choice,
e.g. Ultralytics' own ``yolo11n.pt`` copied onto a connected machine), then the project's shared offline copy
``../shared/weights/yolo11n-coco.pt``; with neither, the run trains from scratch and says so in the first line of its
log and model card. A checkpoint is opened and checked *before* any data is prepared: a corrupt file, or one that
holds no detection model, is refused with the file's name and the reason.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_WEIGHTS = REPO_ROOT.parent / "shared" / "weights" / "yolo11n-coco.pt"
ENV = "CROPWATCH_PRETRAINED_WEIGHTS"
SCRATCH_YAML = "yolo11n.yaml"


class CheckpointError(ValueError):
    """A starting checkpoint that cannot be trained from (the message names the file and the reason)."""


@dataclass(frozen=True)
class Start:
    model: str  # what YOLO() is given: a .pt path or a model YAML name
    kind: str  # pretrained | checkpoint | scratch
    note: str  # one line for the run log and the model card
    classes: int | None = None  # classes of the checkpoint's head (None for a YAML)
    sha256: str | None = None

    def as_dict(self) -> dict:
        return {
            "model": self.model,
            "kind": self.kind,
            "note": self.note,
            "classes": self.classes,
            "sha256": self.sha256,
        }


def _sha256(path: Path) -> str:
    from models.registry import sha256_file  # one implementation

    return sha256_file(path)


def check_checkpoint(path: Path) -> int:
    """Open ``path`` as an Ultralytics checkpoint and return its class count; :class:`CheckpointError` otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path}: not a PyTorch checkpoint (not a zip archive; truncated or another format)")
    import torch

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the same thing to the user
        raise CheckpointError(f"{path}: cannot be read as a checkpoint ({type(exc).__name__}: {exc})"[:400]) from None
    model = (ckpt.get("ema") or ckpt.get("model")) if isinstance(ckpt, dict) else None
    if model is None or not hasattr(model, "model"):
        raise CheckpointError(
            f"{path}: holds no Ultralytics model (keys: {sorted(ckpt)[:8] if isinstance(ckpt, dict) else type(ckpt).__name__})"
        )
    head = model.model[-1]
    if type(head).__name__ not in {"Detect", "v10Detect", "YOLOEDetect"} or not hasattr(head, "nc"):
        raise CheckpointError(f"{path}: not a detection model (its head is {type(head).__name__})")
    return int(head.nc)


def resolve_start(start: str = "pretrained") -> Start:
    """Resolve a recipe's or a user's ``start``: ``pretrained``, ``scratch``, a model YAML, or a ``.pt`` path."""
    if start == "scratch" or start.endswith((".yaml", ".yml")):
        model = SCRATCH_YAML if start == "scratch" else start
        return Start(model=model, kind="scratch", note=f"trained from scratch ({model}, no pretrained weights)")
    if start != "pretrained":
        path = Path(start)
        classes = check_checkpoint(path)
        return Start(
            model=str(path),
            kind="checkpoint",
            note=f"continued from checkpoint {path.name}",
            classes=classes,
            sha256=_sha256(path),
        )
    configured = os.environ.get(ENV)
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise CheckpointError(f"{path}: {ENV} names no file")
    elif SHARED_WEIGHTS.is_file():
        path = SHARED_WEIGHTS
    else:
        return Start(
            model=SCRATCH_YAML,
            kind="scratch",
            note=f"trained from scratch: no pretrained weights on this machine (set {ENV})",
        )
    classes = check_checkpoint(path)
    return Start(
        model=str(path),
        kind="pretrained",
        note=f"fine-tuned from pretrained {path.name} ({classes} classes)",
        classes=classes,
        sha256=_sha256(path),
    )
