"""Greedy non-maximum suppression in NumPy, bit-compatible with ``torchvision.ops.nms``.

Same float32 arithmetic, same stable descending sort, same ``IoU > threshold`` rule, so the kept set equals the one
Ultralytics' predictor gets from torchvision (its ``TorchNMS.nms`` fallback is the same algorithm).
"""

from __future__ import annotations

import numpy as np

#: Ultralytics' class offset for class-aware NMS in letterboxed coordinates (``max_wh`` in ``non_max_suppression``).
ULTRALYTICS_MAX_WH = 7680


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes ``a`` (N, 4) and ``b`` (M, 4): an (N, M) matrix."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    iou_threshold: float,
    *,
    class_ids: np.ndarray | None = None,
    max_wh: float | None = None,
    max_det: int | None = None,
) -> np.ndarray:
    """Indices of the boxes to keep, best score first.

    ``boxes`` (N, 4) xyxy and ``scores`` (N,) are used as float32. With ``class_ids`` the suppression is per class, done
    like Ultralytics by shifting each class's boxes by ``class_id * max_wh`` (default: one more than the largest
    coordinate, so classes can never overlap). ``max_det`` stops once that many boxes are kept (same result as
    truncating afterwards, since kept boxes come out in score order).
    """
    boxes = np.asarray(boxes, dtype=np.float32)
    scores = np.asarray(scores, dtype=np.float32)
    n = len(scores)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    if class_ids is not None:
        if max_wh is None:
            max_wh = float(np.abs(boxes).max()) + 1.0
        offsets = np.asarray(class_ids, dtype=np.float32)[:, None] * np.float32(max_wh)
        boxes = boxes + offsets
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    order = np.argsort(-scores, kind="stable")  # torchvision sorts stably, descending
    limit = n if max_det is None else max_det
    keep: list[int] = []
    while order.size and len(keep) < limit:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        if not rest.size:
            break
        w = np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest])
        h = np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest])
        inter = np.maximum(w, np.float32(0)) * np.maximum(h, np.float32(0))
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = inter / (areas[i] + areas[rest] - inter)
        order = rest[~(iou.astype(np.float64) > iou_threshold)]  # torchvision: suppress iff IoU > t (NaN keeps)
    return np.asarray(keep, dtype=np.int64)
