"""Count error of a sticky-trap model on whole cards, read the way the worker reads a trap photo (tiled).

For a trap the count is what a farmer acts on, not the boxes: per card, the detections at or above a confidence
(after the tiled detector's cross-window NMS) are counted and compared with the card's labelled insects. The
confidence is chosen on the training and validation cards (the one with the smallest mean absolute error; the
pipeline's ``trap_counts``) and then measured on the test cards, so the test split never picks its own threshold. Greedy NMS keeps a box only against higher-scored
boxes, so one detection pass at the lowest confidence gives the count at every higher one.

Figures: ``mae`` (mean over cards of |predicted − true|), ``relative_mae`` (``mae`` / mean true count: the
issue's "≤ 10% of the true count"), ``bias`` (mean predicted − true: over- or under-counting), per card.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from datasets.tiles import read_boxes
from datasets.yolo import IMAGE_SUFFIXES
from inference.detector import OnnxDetector
from inference.tiling import TileConfig, detect_tiled

CONF_GRID = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)


@dataclass(frozen=True)
class CountResult:
    split: str
    conf: float
    cards: int
    true_total: int
    predicted_total: int
    mae: float
    relative_mae: float
    bias: float
    per_card: dict[str, tuple[int, int]]  # card stem -> (true, predicted)

    def as_dict(self) -> dict:
        return asdict(self)


def card_scores(
    onnx_path: Path, images: Path, labels: Path, *, tile: TileConfig, iou: float, max_det: int, threads: int = 2
) -> dict[str, tuple[int, np.ndarray]]:
    """{card stem: (labelled insects, confidences of the tiled detections at the lowest grid confidence)}."""
    detector = OnnxDetector(onnx_path, threads=threads, conf=min(CONF_GRID), iou=iou, max_det=max_det)
    out = {}
    for path in sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        h, w = image.shape[:2]
        true = len(read_boxes(labels / f"{path.stem}.txt", w, h))
        det = detect_tiled(detector, image, tile, conf=min(CONF_GRID), iou=iou, max_det=max_det)
        out[path.stem] = (true, np.asarray(det.confidence, np.float32))
    return out


def count_result(split: str, scores: dict[str, tuple[int, np.ndarray]], conf: float) -> CountResult:
    per_card = {stem: (true, int((conf_s >= conf).sum())) for stem, (true, conf_s) in scores.items()}
    trues = np.array([t for t, _ in per_card.values()], float)
    preds = np.array([p for _, p in per_card.values()], float)
    mae = float(np.abs(preds - trues).mean()) if len(trues) else 0.0
    mean_true = float(trues.mean()) if len(trues) else 0.0
    return CountResult(
        split=split,
        conf=conf,
        cards=len(per_card),
        true_total=int(trues.sum()),
        predicted_total=int(preds.sum()),
        mae=round(mae, 2),
        relative_mae=round(mae / mean_true, 4) if mean_true else 0.0,
        bias=round(float((preds - trues).mean()) if len(trues) else 0.0, 2),
        per_card=per_card,
    )


def best_conf(scores: dict[str, tuple[int, np.ndarray]]) -> float:
    """The grid confidence with the smallest mean absolute count error (ties: the lowest, the more sensitive)."""
    return min(CONF_GRID, key=lambda c: (count_result("val", scores, c).mae, c))
