"""Shadow comparison: a candidate's detections on live captures against production's and against reviewers'.

Boxes are matched greedily by IoU (same class, IoU ≥ ``iou``). Against production: per class, how many boxes each
model found and how many of them agree. Against people (captures an agronomist reviewed): the verified boxes are the
detections not rejected (confirmed, relabelled, adjusted, drawn), and each model's precision and recall on them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from cropwatch.core.enums import DetectionSource, ReviewState
from cropwatch.core.orm import Capture, Detection, ShadowResult
from inference.detections import DetectionRecord
from inference.nms import box_iou


def match(pred: Sequence[DetectionRecord], truth: Sequence[DetectionRecord], iou: float) -> Counter:
    """Greedy one-to-one matches per class name; returns tp/fp/fn per class name."""
    out: Counter = Counter()
    for name in {d.class_name for d in pred} | {d.class_name for d in truth}:
        p = np.array([d.xyxy for d in pred if d.class_name == name], dtype=float).reshape(-1, 4)
        t = np.array([d.xyxy for d in truth if d.class_name == name], dtype=float).reshape(-1, 4)
        m = box_iou(p, t)
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
        shadow = [DetectionRecord.from_json(d) for d in r.records]
        dets = session.scalars(select(Detection).where(Detection.capture_id == r.capture_id)).all()
        prod = [
            d.record
            for d in dets
            if d.model_version_id == r.production_version_id and d.source == DetectionSource.model
        ]
        for d in shadow:
            counts[d.class_name]["shadow"] += 1
        for d in prod:
            counts[d.class_name]["production"] += 1
        vs_production += match(shadow, prod, iou)
        cap = session.get(Capture, r.capture_id)
        if cap is not None and cap.reviewed_at is not None:
            reviewed += 1
            truth = [d.record for d in dets if d.review_state != ReviewState.rejected]
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
