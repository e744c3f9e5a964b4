"""The detector's result inside the vision code (``Detections``: boxes, scores, classes plus per-detection extras)
and the one record every detection becomes when it leaves it (``DetectionRecord``).

Modelled on ``supervision.Detections``: parallel NumPy arrays, shapes checked on construction, boolean-mask / index /
slice indexing that returns another ``Detections``. Boxes are xyxy float32 pixels of the original image.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from inference.nms import nms


@dataclass(frozen=True, eq=False)
class Detections:
    xyxy: np.ndarray  # (N, 4) float32, pixels in the original image
    confidence: np.ndarray  # (N,) float32
    class_id: np.ndarray  # (N,) int64
    data: dict[str, np.ndarray] = field(default_factory=dict)  # per-detection extras, each of length N

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32)
        if xyxy.size == 0:
            xyxy = xyxy.reshape(0, 4)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise ValueError(f"xyxy must have shape (N, 4), got {xyxy.shape}")
        n = len(xyxy)
        confidence = np.asarray(self.confidence, dtype=np.float32)
        class_id = np.asarray(self.class_id)
        if n == 0:  # accept [] / np.empty(0) of any shape for an empty set
            confidence, class_id = confidence.reshape(-1), class_id.reshape(-1)
        if class_id.dtype.kind == "f" and not np.array_equal(class_id, np.trunc(class_id)):
            raise ValueError("class_id must hold integers")
        if class_id.dtype.kind not in "iuf" and class_id.size:
            raise ValueError(f"class_id must be integer, got {class_id.dtype}")
        class_id = class_id.astype(np.int64, copy=False)
        for name, arr in (("confidence", confidence), ("class_id", class_id)):
            if arr.shape != (n,):
                raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
        data = {}
        for key, value in dict(self.data).items():
            value = np.asarray(value)
            if value.ndim == 0 or len(value) != n:
                raise ValueError(f"data[{key!r}] must have length {n}, got shape {value.shape}")
            data[key] = value
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "confidence", confidence)
        object.__setattr__(self, "class_id", class_id)
        object.__setattr__(self, "data", data)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.empty((0, 4), np.float32), np.empty(0, np.float32), np.empty(0, np.int64))

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: int | slice | Sequence[int] | np.ndarray) -> Detections:
        """Boolean mask, integer array, slice or single int (kept as a one-row ``Detections``)."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        if isinstance(index, (list, tuple, np.ndarray)):
            index = np.asarray(index)
            if index.size == 0 and index.dtype != bool:
                index = index.astype(np.int64)  # [] / np.array([]) select nothing
        return Detections(
            self.xyxy[index], self.confidence[index], self.class_id[index], {k: v[index] for k, v in self.data.items()}
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Detections):
            return NotImplemented
        return (
            np.array_equal(self.xyxy, other.xyxy)
            and np.array_equal(self.confidence, other.confidence)
            and np.array_equal(self.class_id, other.class_id)
            and self.data.keys() == other.data.keys()
            and all(np.array_equal(v, other.data[k]) for k, v in self.data.items())
        )

    __hash__ = None  # type: ignore[assignment]  # mutable arrays inside

    @classmethod
    def merge(cls, items: Iterable[Detections]) -> Detections:
        """Concatenate; every non-empty item must carry the same ``data`` keys."""
        items = [d for d in items if len(d)]
        if not items:
            return cls.empty()
        keys = items[0].data.keys()
        if any(d.data.keys() != keys for d in items):
            raise ValueError("cannot merge Detections with different data keys")
        return cls(
            np.concatenate([d.xyxy for d in items]),
            np.concatenate([d.confidence for d in items]),
            np.concatenate([d.class_id for d in items]),
            {k: np.concatenate([d.data[k] for d in items]) for k in keys},
        )

    def scaled(self, sx: float, sy: float) -> Detections:
        """Boxes multiplied by ``sx`` along x and ``sy`` along y (back to a photo's pixels from a reduced decode)."""
        if sx == 1 and sy == 1:
            return self
        factor = np.array([sx, sy, sx, sy], dtype=np.float32)
        return Detections(self.xyxy * factor, self.confidence, self.class_id, self.data)

    def with_nms(self, iou: float = 0.5, class_agnostic: bool = False) -> Detections:
        """Greedy NMS (torchvision semantics), per class unless ``class_agnostic``; result sorted by score."""
        keep = nms(self.xyxy, self.confidence, iou, class_ids=None if class_agnostic else self.class_id)
        return self[keep]

    def filter(self, *, min_confidence: float | None = None, classes: Iterable[int] | None = None) -> Detections:
        mask = np.ones(len(self), dtype=bool)
        if min_confidence is not None:
            mask &= self.confidence >= min_confidence
        if classes is not None:
            mask &= np.isin(self.class_id, np.fromiter(classes, dtype=np.int64))
        return self[mask]

    def records(self, names: Mapping[int, str]) -> list[DetectionRecord]:
        """The detections as they leave the vision code (storage, the edge wire format, shadow results): one
        :class:`DetectionRecord` each (score to 5 decimals, pixels to 2), ``names`` giving the class names (an
        unknown id is named by its number)."""
        return [
            DetectionRecord(cid, names.get(cid, str(cid)), round(score, 5), tuple(round(c, 2) for c in box))
            for box, score, cid in zip(self.xyxy.tolist(), self.confidence.tolist(), self.class_id.tolist())
        ]

    @classmethod
    def of_records(cls, records: Iterable[DetectionRecord]) -> Detections:
        """Inverse of :meth:`records` (names belong to the model and are dropped)."""
        records = list(records)
        if not records:
            return cls.empty()
        return cls(
            np.array([r.xyxy for r in records], dtype=np.float32),
            np.array([r.score for r in records], dtype=np.float32),
            np.array([r.class_id for r in records], dtype=np.int64),
        )


@dataclass(frozen=True)
class DetectionRecord:
    """One detection outside the vision code: what the worker stores, what a field agent sends (and keeps in its
    outbox), what a shadow result holds, what a review's history records. ``xyxy`` in pixels of the image the
    detector read. Its JSON form is :meth:`to_json`; :meth:`from_json` also reads the older forms (``box`` from
    agents before this record, ``x1``..``y2`` from shadow results stored before it)."""

    class_id: int
    class_name: str
    score: float
    xyxy: tuple[float, float, float, float]

    def __post_init__(self) -> None:
        xyxy = tuple(float(v) for v in self.xyxy)
        if len(xyxy) != 4:
            raise ValueError(f"xyxy must hold 4 numbers, got {len(xyxy)}")
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "class_id", int(self.class_id))
        object.__setattr__(self, "score", float(self.score))

    def to_json(self) -> dict[str, Any]:
        return {
            "class_id": self.class_id,
            "class_name": self.class_name,
            "score": round(self.score, 5),
            "xyxy": [round(v, 2) for v in self.xyxy],
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any], class_ids: Mapping[str, int] | None = None) -> DetectionRecord:
        """``class_ids`` (name → id) fills a missing ``class_id`` (records written before it was carried)."""
        if "xyxy" in d:
            xyxy = d["xyxy"]
        elif "box" in d:
            xyxy = d["box"]
        else:
            xyxy = (d["x1"], d["y1"], d["x2"], d["y2"])
        cid = d.get("class_id")
        if cid is None:
            cid = (class_ids or {}).get(d["class_name"], -1)
        return cls(cid, d["class_name"], d["score"], tuple(xyxy))

    def clipped(self, width: float, height: float) -> DetectionRecord | None:
        """The box clipped to a ``width`` × ``height`` image; None when nothing of it is left inside."""
        x1, y1, x2, y2 = (max(0.0, min(v, lim)) for v, lim in zip(self.xyxy, (width, height, width, height)))
        if x2 <= x1 or y2 <= y1:
            return None
        return DetectionRecord(self.class_id, self.class_name, self.score, (x1, y1, x2, y2))
