"""Shadow comparison: a candidate's detections on live captures against production's and against reviewers'.

Boxes are matched greedily by IoU (same class, IoU ≥ ``iou``). Against production: per class, how many boxes each
model found and how many of them agree. Against people (captures an agronomist reviewed): the verified boxes are the
detections not rejected (confirmed, relabelled, adjusted, drawn), and each model's precision and recall on them.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from cropwatch.core.enums import DetectionSource, ReviewState
from cropwatch.core.orm import Capture, Detection, ShadowResult


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-9)


def match(pred: list[tuple[str, list[float]]], truth: list[tuple[str, list[float]]], iou: float) -> Counter:
    """Greedy one-to-one matches per class; returns tp/fp/fn per class name."""
    out: Counter = Counter()
    for name in {c for c, _ in pred} | {c for c, _ in truth}:
        p = np.array([b for c, b in pred if c == name], dtype=float).reshape(-1, 4)
        t = np.array([b for c, b in truth if c == name], dtype=float).reshape(-1, 4)
        m = _iou(p, t)
        used_p, used_t = set(), set()
        for i, j in sorted(np.argwhere(m >= iou).tolist(), key=lambda ij: -m[ij[0], ij[1]]):
            if i not in used_p and j not in used_t:
                used_p.add(i)
                used_t.add(j)
        out[(name, "tp")] += len(used_p)
        out[(name, "fp")] += len(p) - len(used_p)
        out[(name, "fn")] += len(t) - len(used_t)
    return out


def _pr(c: Counter, name: str | None = None) -> dict:
    keys = {k[0] for k in c} if name is None else {name}
    tp = sum(c[(k, "tp")] for k in keys)
    fp = sum(c[(k, "fp")] for k in keys)
    fn = sum(c[(k, "fn")] for k in keys)
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / (tp + fn), 4) if tp + fn else None,
    }


def report(session: Session, model_version_id: int, *, cooperative_id: int | None = None, iou: float = 0.5) -> dict:
    q = select(ShadowResult).where(ShadowResult.model_version_id == model_version_id)
    if cooperative_id is not None:
        q = q.where(ShadowResult.cooperative_id == cooperative_id)
    results = session.scalars(q).all()
    vs_production: Counter = Counter()
    shadow_vs_people: Counter = Counter()
    production_vs_people: Counter = Counter()
    counts: dict[str, Counter] = defaultdict(Counter)
    reviewed = 0
    ms = []
    for r in results:
        ms.append(r.duration_ms)
        shadow = [(d["class_name"], [d["x1"], d["y1"], d["x2"], d["y2"]]) for d in r.records]
        dets = session.scalars(select(Detection).where(Detection.capture_id == r.capture_id)).all()
        prod = [
            (d.class_name, [d.x1, d.y1, d.x2, d.y2])
            for d in dets
            if d.model_version_id == r.production_version_id and d.source == DetectionSource.model
        ]
        for name, _ in shadow:
            counts[name]["shadow"] += 1
        for name, _ in prod:
            counts[name]["production"] += 1
        vs_production += match(shadow, prod, iou)
        cap = session.get(Capture, r.capture_id)
        if cap is not None and cap.reviewed_at is not None:
            reviewed += 1
            truth = [(d.class_name, [d.x1, d.y1, d.x2, d.y2]) for d in dets if d.review_state != ReviewState.rejected]
            shadow_vs_people += match(shadow, truth, iou)
            # production's own boxes as they were judged: rejected ones are its false positives
            production_vs_people += match(prod, truth, iou)
    classes = sorted(counts)
    return {
        "model_version_id": model_version_id,
        "captures": len(results),
        "reviewed_captures": reviewed,
        "median_ms": round(float(np.median(ms)), 2) if ms else None,
        "per_class": {
            c: {"shadow": counts[c]["shadow"], "production": counts[c]["production"], "agree": vs_production[(c, "tp")]}
            for c in classes
        },
        "agreement_with_production": _pr(vs_production),
        "against_reviewers": {"shadow": _pr(shadow_vs_people), "production": _pr(production_vs_people)},
    }
