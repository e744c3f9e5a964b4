"""Edge detection on the camera: the repository's own ``OnnxDetector`` (optionally tiled, for sticky traps), the model
kept in step with the server's (download, sha256 check, load, atomic swap without a restart), and the crop mosaic
of mode ``crops``.

Model files live in ``<data_dir>/models/<sha256>.onnx``; ``<data_dir>/models/current`` names the one in use (written
atomically after the new model loaded and passed the detector's smoke test), so a restart serves the same model and a
download cut short never replaces a working one.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from camera_agents.config import ModelRef
from inference.detections import DetectionRecord

log = logging.getLogger("cropwatch.agent.edge")


@dataclass
class EdgeResult:
    model_sha256: str
    duration_ms: float
    detections: list[DetectionRecord] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        """The confirm body's ``edge`` object."""
        return {
            "model_sha256": self.model_sha256,
            "duration_ms": round(self.duration_ms, 1),
            "detections": [d.to_json() for d in self.detections],
        }


class EdgeDetector:
    """The model in use, swappable while frames are being detected (a lock around the reference only)."""

    def __init__(self, models_dir: Path, *, conf: float = 0.25, threads: int = 2, tile: int = 0, loader=None) -> None:
        self.models_dir = Path(models_dir)
        self.models_dir.mkdir(parents=True, exist_ok=True)
        self.threads, self.tile = threads, tile
        # until the server's configuration names the model version's settings: the server's defaults
        self.detect_settings: dict[str, float] = {"conf": conf, "iou": 0.45, "max_det": 300}
        self._loader = loader or self._load_onnx
        self._lock = threading.Lock()
        self._detector = None
        self.sha256: str | None = None

    def _load_onnx(self, path: Path, sha256: str | None):
        from inference.detector import OnnxDetector

        return OnnxDetector(path, threads=self.threads, expected_sha256=sha256, **self.detect_settings)

    @property
    def conf(self) -> float:
        return float(self.detect_settings["conf"])

    def apply_detect(self, detect: dict | None) -> None:
        """Take the model version's detection settings from the server (the same the worker uses), also for the
        model already loaded."""
        if not detect:
            return
        self.detect_settings = self.detect_settings | {k: detect[k] for k in ("conf", "iou", "max_det") if k in detect}
        with self._lock:
            det = self._detector
        if det is not None:
            for k, v in self.detect_settings.items():
                setattr(det, k, v)

    #: the server model's own windows (a sticky-trap model), used when this box's ``edge.tile`` is 0
    model_tiling: dict | None = None

    #: why the last :meth:`load_current` found no usable model (the heartbeat's ``last_error``, ``doctor``)
    load_error: str | None = None

    @property
    def ready(self) -> bool:
        return self._detector is not None

    def load(self, path: Path, sha256: str | None = None) -> str:
        """Load a model file and swap it in (the old one serves until the new one passed its smoke test)."""
        det = self._loader(Path(path), sha256)
        sha = getattr(det, "sha256", None) or sha256
        with self._lock:
            self._detector, self.sha256 = det, sha
        log.info("edge model %s in use (%s)", sha[:12] if sha else "?", Path(path).name)
        return sha

    def load_current(self, fallback: str | Path | None = None) -> bool:
        """At start: the model named by ``models/current``, else ``fallback`` (``edge.model_path``)."""
        pointer = self.models_dir / "current"
        candidates = []
        if pointer.exists():
            candidates.append(self.models_dir / pointer.read_text().strip())
        if fallback:
            candidates.append(Path(fallback))
        errors = []
        for path in candidates:
            try:
                self.load(path)
                self.load_error = None
                return True
            except Exception as exc:  # noqa: BLE001 - a broken file must not stop the camera; the error is kept
                log.error("cannot load edge model %s: %s", path, exc)
                errors.append(f"{Path(path).name}: {type(exc).__name__}: {exc}")
        self.load_error = (
            "; ".join(errors) if errors else "no edge model on this box (models/current or edge.model_path)"
        )
        return False

    def ensure(self, ref: ModelRef | None, api) -> bool:
        """Download and swap in the server's model when its sha256 differs from the one in use. True if swapped."""
        if ref is not None:
            self.apply_detect(ref.detect)
            self.model_tiling = ref.tiling
        if ref is None or not ref.sha256 or ref.sha256.lower() == (self.sha256 or "").lower():
            return False
        sha = ref.sha256.lower()
        final = self.models_dir / f"{sha}.onnx"
        if not final.exists():
            tmp = self.models_dir / f".{sha}.download"
            log.info("downloading edge model %s (%s, %d bytes)", sha[:12], ref.name or "?", ref.size or 0)
            try:
                api.download_model(ref.url or "/api/v1/cameras/me/model", tmp, sha)
            except Exception:
                tmp.unlink(missing_ok=True)
                raise
            os.replace(tmp, final)
        self.load(final, sha)
        pointer_tmp = self.models_dir / ".current.tmp"
        pointer_tmp.write_text(final.name)
        os.replace(pointer_tmp, self.models_dir / "current")
        for old in self.models_dir.glob("*.onnx"):  # keep the one in use only
            if old != final:
                old.unlink(missing_ok=True)
        return True

    def detect(self, image: np.ndarray) -> EdgeResult:
        with self._lock:
            det, sha = self._detector, self.sha256
        if det is None:
            raise RuntimeError("no edge model loaded")
        t = time.perf_counter()
        if self.tile or self.model_tiling:
            from inference.tiling import TileConfig, detect_tiled

            tiling = TileConfig(tile=self.tile) if self.tile else TileConfig.from_setting(self.model_tiling)
            out = detect_tiled(det, image, tiling)
        else:
            out = det(image)
        ms = (time.perf_counter() - t) * 1000
        return EdgeResult(sha or "", ms, out.records(det.names))


# -- crop mosaic -------------------------------------------------------------------------------------------------
def _region(box: list[float], shape: tuple[int, ...], margin: float, min_side: int) -> list[int]:
    h, w = shape[:2]
    x1, y1, x2, y2 = box
    bw, bh = x2 - x1, y2 - y1
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half_w = max(bw * (1 + 2 * margin), min_side) / 2
    half_h = max(bh * (1 + 2 * margin), min_side) / 2
    return [
        max(0, math.floor(cx - half_w)),
        max(0, math.floor(cy - half_h)),
        min(w, math.ceil(cx + half_w)),
        min(h, math.ceil(cy + half_h)),
    ]


def _overlap(a: list[int], b: list[int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def crop_mosaic(
    image: np.ndarray,
    detections: list[DetectionRecord],
    *,
    margin: float = 0.25,
    min_side: int = 64,
    gap: int = 4,
    fill: int = 114,
) -> tuple[np.ndarray, list[DetectionRecord]]:
    """One image made of crops around the detections (overlapping crops merged, so every detection appears once),
    packed in rows; returns it and the detections with boxes in mosaic coordinates."""
    if not detections:
        raise ValueError("a crop mosaic needs at least one detection")
    regions = [_region(list(d.xyxy), image.shape, margin, min_side) for d in detections]
    owner = list(range(len(regions)))
    merged = True
    while merged:  # union overlapping regions until none overlap
        merged = False
        for i in range(len(regions)):
            if regions[i] is None:
                continue
            for j in range(i + 1, len(regions)):
                if regions[j] is not None and _overlap(regions[i], regions[j]):
                    a, b = regions[i], regions[j]
                    regions[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                    regions[j] = None
                    owner = [i if o == j else o for o in owner]
                    merged = True
    live = [i for i, r in enumerate(regions) if r is not None]
    sizes = {i: (regions[i][2] - regions[i][0], regions[i][3] - regions[i][1]) for i in live}
    area = sum(w * h for w, h in sizes.values())
    width = max(max(w for w, _ in sizes.values()), int(math.sqrt(area) * 1.3))
    order = sorted(live, key=lambda i: -sizes[i][1])
    place: dict[int, tuple[int, int]] = {}
    x = y = row_h = 0
    for i in order:  # shelf packing, tallest first
        w, h = sizes[i]
        if x > 0 and x + w > width:
            x, y, row_h = 0, y + row_h + gap, 0
        place[i] = (x, y)
        x += w + gap
        row_h = max(row_h, h)
    mw = max(place[i][0] + sizes[i][0] for i in live)
    mh = max(place[i][1] + sizes[i][1] for i in live)
    mosaic = np.full((mh, mw, *image.shape[2:]), fill, dtype=image.dtype)
    for i in live:
        x0, y0, x1, y1 = regions[i]
        mx, my = place[i]
        mosaic[my : my + (y1 - y0), mx : mx + (x1 - x0)] = image[y0:y1, x0:x1]
    out = []
    for d, o in zip(detections, owner):
        x0, y0, _, _ = regions[o]
        mx, my = place[o]
        dx, dy = mx - x0, my - y0
        b = d.xyxy
        box = (b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy)
        out.append(
            replace(
                d,
                xyxy=tuple(
                    round(max(0.0, min(float(mw), v)) if k % 2 == 0 else max(0.0, min(float(mh), v)), 1)
                    for k, v in enumerate(box)
                ),
            )
        )
    return mosaic, out
