"""Cut a YOLO split of large photos (whole sticky-trap cards) into the windows the tiled detector sees.

A 1,500 px glue board with 10 px insects cannot be trained letterboxed to 640 px (the insects shrink to 4 px);
trained on windows of ``tile`` source pixels at ``imgsz == tile`` the network sees the insects at their real size,
which is also how :func:`inference.tiling.detect_tiled` reads a trap photo. Windows come from the same
:func:`inference.tiling.tile_windows` as inference. A box goes into a window when at least ``min_visible`` of its
area lies inside, clipped to the window; an insect cut by a window edge is then learnt whole from the neighbour that
holds it. The full cards stay where they are: counts are measured on them (training.count_eval).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from inference.tiling import tile_windows

from .yolo import IMAGE_SUFFIXES


@dataclass
class TileStats:
    cards: int = 0
    windows: int = 0
    empty_windows: int = 0
    boxes: Counter = field(default_factory=Counter)  # per class, over windows (a box in two windows counts twice)
    cut_boxes_dropped: int = 0  # boxes less than min_visible inside a window, for that window

    def as_dict(self) -> dict:
        return {
            "cards": self.cards,
            "windows": self.windows,
            "empty_windows": self.empty_windows,
            "boxes_per_class": {str(k): v for k, v in sorted(self.boxes.items())},
            "cut_boxes_dropped": self.cut_boxes_dropped,
        }


def read_boxes(label: Path, width: int, height: int) -> list[tuple[int, float, float, float, float]]:
    """(class, x0, y0, x1, y1) in pixels from a YOLO box label file (missing file: no boxes)."""
    out = []
    if not label.exists():
        return out
    for line in label.read_text().splitlines():
        parts = line.split()
        if len(parts) != 5:
            continue
        c, cx, cy, w, h = int(parts[0]), *(float(v) for v in parts[1:])
        out.append((c, (cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height))
    return out


def tile_split(
    images: Path,
    labels: Path,
    out_images: Path,
    out_labels: Path,
    *,
    tile: int,
    overlap: float = 0.2,
    min_visible: float = 0.5,
) -> TileStats:
    """Write every window of every image in ``images`` (labels from ``labels``) as ``<stem>__<x0>_<y0>.jpg``."""
    out_images.mkdir(parents=True, exist_ok=True)
    out_labels.mkdir(parents=True, exist_ok=True)
    stats = TileStats()
    for path in sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"{path} is not a readable image")
        height, width = image.shape[:2]
        boxes = read_boxes(labels / f"{path.stem}.txt", width, height)
        stats.cards += 1
        for x0, y0, x1, y1 in tile_windows(height, width, tile, overlap):
            lines = []
            for c, bx0, by0, bx1, by1 in boxes:
                ix0, iy0, ix1, iy1 = max(bx0, x0), max(by0, y0), min(bx1, x1), min(by1, y1)
                if ix1 <= ix0 or iy1 <= iy0:
                    continue
                area = (bx1 - bx0) * (by1 - by0)
                if area <= 0 or (ix1 - ix0) * (iy1 - iy0) < min_visible * area:
                    stats.cut_boxes_dropped += 1
                    continue
                w, h = x1 - x0, y1 - y0
                cx, cy = ((ix0 + ix1) / 2 - x0) / w, ((iy0 + iy1) / 2 - y0) / h
                lines.append(f"{c} {cx:.6f} {cy:.6f} {(ix1 - ix0) / w:.6f} {(iy1 - iy0) / h:.6f}")
                stats.boxes[c] += 1
            name = f"{path.stem}__{x0}_{y0}"
            cv2.imwrite(str(out_images / f"{name}.jpg"), image[y0:y1, x0:x1], [cv2.IMWRITE_JPEG_QUALITY, 95])
            (out_labels / f"{name}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
            stats.windows += 1
            stats.empty_windows += not lines
    return stats
