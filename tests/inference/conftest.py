"""Fixtures for the detector tests: real photos (copied to tmp), YOLO11n models built from YAML and exported to ONNX.

Ultralytics is imported only inside fixtures, after :func:`training.ultralytics_env.configure_ultralytics`; no weights are
downloaded (models come from ``yolo11.yaml``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from training.ultralytics_env import configure_ultralytics

PROJECT = Path(__file__).resolve().parents[2]
PHOTOS = PROJECT.parent / "shared" / "datasets" / "rice-pests" / "images" / "test"
NAMES = {
    0: "grasshopper",
    1: "rice_bug",
    2: "leaf_roller",
    3: "stem_borer",
    4: "caterpillar",
    5: "ear_bug",
    6: "planthopper",
}


@pytest.fixture(scope="session")
def ultralytics(tmp_path_factory):
    if "YOLO_CONFIG_DIR" not in os.environ:  # the root conftest may have done it already
        configure_ultralytics(tmp_path_factory.mktemp("ultralytics-data"))
    import ultralytics

    return ultralytics


@pytest.fixture(scope="session")
def photo_files(tmp_path_factory) -> list[Path]:
    """Four real field photos, copied out of the shared (read-only) dataset."""
    src = sorted(PHOTOS.glob("*.jpg"))
    assert len(src) >= 4, f"need real photos in {PHOTOS}"
    dst = tmp_path_factory.mktemp("photos")
    return [Path(shutil.copy(p, dst / p.name)) for p in src[:4]]


@pytest.fixture(scope="session")
def photos(photo_files) -> list[np.ndarray]:
    from inference.decode import decode_image

    return [decode_image(p.read_bytes()) for p in photo_files]


def shaped(img: np.ndarray) -> dict[str, np.ndarray]:
    """One real photo in the shapes a camera produces: square, landscape crop, portrait crop, upscaled 16:9, tiny."""
    return {  # keys are "WxH"
        "640x640": img,
        "640x480": np.ascontiguousarray(img[:480]),
        "400x640": np.ascontiguousarray(img[:, 120:520]),
        "1280x720": cv2.resize(img, (1280, 720)),
        "150x100": cv2.resize(img, (150, 100), interpolation=cv2.INTER_AREA),
    }


@pytest.fixture(scope="session")
def photo_shapes(photos) -> dict[str, np.ndarray]:
    return shaped(photos[1])


@pytest.fixture(scope="session")
def shaped_photos(photos) -> list[tuple[str, np.ndarray]]:
    """(id, image) for several real photos in several shapes, for parity tests."""
    return [(f"{i}-{k}", v) for i, p in enumerate(photos[:3]) for k, v in shaped(p).items()]


def _export(
    ultralytics, folder: Path, *, randomise: bool, arch: str = "yolo11", dynamic: bool = True, imgsz: int = 320
) -> Path:
    """``<arch>n`` (nc=7) from YAML, optionally with a randomised head so scores spread out, exported to ONNX.

    ``arch='yolo26'`` is exported with ``nms=False``: its NMS-free one-to-one head gives a (batch, 300, 6) output.
    """
    import onnx
    import torch
    import yaml
    from ultralytics import YOLO

    folder.mkdir(parents=True, exist_ok=True)
    version = arch.removeprefix("yolo")
    cfg = yaml.safe_load((Path(ultralytics.__file__).parent / f"cfg/models/{version}/{arch}.yaml").read_text())
    cfg["nc"] = len(NAMES)
    (folder / f"{arch}.yaml").write_text(yaml.safe_dump(cfg))  # '<arch>n.yaml' resolves to it with scale n
    torch.manual_seed(0)
    model = YOLO(str(folder / f"{arch}n.yaml"))
    model.model.names = dict(NAMES)
    if randomise:  # an untrained head scores every anchor ~0.002 (ties everywhere); spread scores and box sizes
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for m in model.model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_var.uniform_(0.2, 0.6, generator=g)
                    m.bias.normal_(0, 0.5, generator=g)
            head = model.model.model[-1]
            for seq in [*head.cv2, *(getattr(head, "one2one_cv2", None) or [])]:
                seq[-1].weight.normal_(0, 0.05, generator=g)
            for seq in [*head.cv3, *(getattr(head, "one2one_cv3", None) or [])]:
                seq[-1].weight.normal_(0, 0.1, generator=g)
                seq[-1].bias.normal_(-3, 1, generator=g)
    extra = {"nms": False} if arch == "yolo26" else {}
    with contextlib.chdir(folder), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit tracer warnings from the export
        out = folder / model.export(format="onnx", dynamic=dynamic, imgsz=imgsz, simplify=True, verbose=False, **extra)
    proto = onnx.load(out)
    proto.metadata_props.add(key="cropwatch_task", value="pest")  # like training/ adds to the shipped models
    target = folder / f"{arch}n-{'random' if randomise else 'untrained'}-{'dynamic' if dynamic else 'static'}.onnx"
    onnx.save(proto, target)
    out.unlink()
    return target


@pytest.fixture(scope="session")
def untrained_onnx(ultralytics, tmp_path_factory) -> Path:
    """Plain untrained YOLO11n: near-constant scores, so it exercises tie ordering in NMS."""
    return _export(ultralytics, tmp_path_factory.mktemp("untrained"), randomise=False)


@pytest.fixture(scope="session")
def random_onnx(ultralytics, tmp_path_factory) -> Path:
    """Untrained YOLO11n with a randomised head: hundreds of overlapping boxes over 7 classes at conf 0.01."""
    return _export(ultralytics, tmp_path_factory.mktemp("random"), randomise=True)


@pytest.fixture(scope="session")
def static_onnx(ultralytics, tmp_path_factory) -> Path:
    """The randomised YOLO11n exported with a fixed 1x3x320x320 input (square letterbox, batch of one)."""
    return _export(ultralytics, tmp_path_factory.mktemp("static"), randomise=True, dynamic=False)


@pytest.fixture(scope="session")
def end2end_onnx(ultralytics, tmp_path_factory) -> Path:
    """A randomised YOLO26n with its NMS-free head: output (batch, 300, 6)."""
    return _export(ultralytics, tmp_path_factory.mktemp("e2e"), randomise=True, arch="yolo26")
