"""Tiled detection for high-resolution photos of small objects (insects on a sticky trap).

A 4000×3000 trap photo letterboxed to a 320 or 640 px network input shrinks a 3 mm planthopper to a pixel or two. Tiling
cuts the photo into overlapping windows of ``tile`` source pixels, runs them as one batch (all windows share a shape, so
one session call per ``max_batch``), shifts each window's boxes back into the photo and merges everything with
class-aware NMS, so an insect cut by a window edge and seen whole in the overlap is counted once. With
``include_full`` the whole photo is also detected once at the model size, which keeps large objects that no tile holds.

Per camera it is the ``tiling`` setting: ``{"tile": 640, "overlap": 0.2, "include_full": true}``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from inference.detections import Detections
from inference.detector import Detector


@dataclass(frozen=True)
class TileConfig:
    tile: int = 640  # window side, in source pixels
    overlap: float = 0.2  # share of a window shared with its neighbour
    include_full: bool = True  # also detect on the whole image (large objects)
    merge_iou: float = 0.5  # NMS across windows

    def __post_init__(self) -> None:
        if not 32 <= self.tile <= 8192:
            raise ValueError(f"tile must be between 32 and 8192 px, got {self.tile}")
        if not 0 <= self.overlap < 0.9:
            raise ValueError(f"overlap must be in [0, 0.9), got {self.overlap}")

    @classmethod
    def from_setting(cls, setting: Mapping[str, Any] | None) -> TileConfig | None:
        """The camera's ``tiling`` JSON (or None: no tiling)."""
        if not setting or not setting.get("tile"):
            return None
        return cls(
            tile=int(setting["tile"]),
            overlap=float(setting.get("overlap", 0.2)),
            include_full=bool(setting.get("include_full", True)),
            merge_iou=float(setting.get("merge_iou", 0.5)),
        )


def _starts(length: int, tile: int, step: int) -> list[int]:
    if length <= tile:
        return [0]
    n = math.ceil((length - tile) / step) + 1
    # spread the windows evenly so the last one ends exactly at the border (no thin sliver window)
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


def tile_windows(height: int, width: int, tile: int, overlap: float) -> list[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) windows covering the image, neighbours sharing at least ``overlap`` of a tile."""
    step = max(1, int(tile * (1 - overlap)))
    return [
        (x, y, min(x + tile, width), min(y + tile, height))
        for y in _starts(height, tile, step)
        for x in _starts(width, tile, step)
    ]


def detect_tiled(detector: Detector, image: np.ndarray, config: TileConfig, **kwargs: Any) -> Detections:
    """Detections of ``image`` from overlapping windows (plus the whole image), in original pixels."""
    h, w = image.shape[:2]
    windows = tile_windows(h, w, config.tile, config.overlap)
    if len(windows) == 1:
        return detector.predict_batch([image], **kwargs)[0]
    crops = [image[y0:y1, x0:x1] for x0, y0, x1, y1 in windows]
    results = detector.predict_batch(crops + ([image] if config.include_full else []), **kwargs)
    parts = []
    for (x0, y0, _, _), det in zip(windows, results):
        if len(det):
            shifted = det.xyxy + np.array([x0, y0, x0, y0], np.float32)
            parts.append(Detections(shifted, det.confidence, det.class_id, det.data))
    if config.include_full and len(results[-1]):
        parts.append(results[-1])
    if not parts:
        return Detections.empty()
    merged = Detections.merge(parts).with_nms(config.merge_iou)
    max_det = kwargs.get("max_det", getattr(detector, "max_det", 300))
    return merged[: int(max_det)]
