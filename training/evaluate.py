"""Evaluate a detector (``.pt`` or the exported ``.onnx``) on one split of a data.yaml."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from training.offline import load_ultralytics


@dataclass(frozen=True)
class ClassMetrics:
    name: str
    images: int
    instances: int
    precision: float
    recall: float
    map50: float
    map50_95: float


@dataclass(frozen=True)
class EvalResult:
    split: str
    map50: float
    map50_95: float
    precision: float
    recall: float
    #: share of the split's labelled objects found (IoU 0.5) by detections at or above the confidence the worker and
    #: alerts use (0.25 unless a model's card says otherwise): what a farmer's count sees, unlike ``recall``, which
    #: Ultralytics reports at the confidence of the best F1
    recall_at_conf: dict[str, float] = field(default_factory=dict)
    per_class: dict[int, ClassMetrics] = field(default_factory=dict)  # classes with labels in the split
    plots: dict[str, str] = field(default_factory=dict)  # name -> PNG path (confusion matrix, PR curve) if asked

    @property
    def per_class_map50(self) -> dict[int, float]:
        return {k: v.map50 for k, v in self.per_class.items()}

    def as_dict(self) -> dict:
        d = asdict(self)
        d["per_class"] = {str(k): asdict(v) for k, v in self.per_class.items()}
        return d


def evaluate(
    weights: Path,
    data_yaml: Path,
    *,
    imgsz: int,
    data_dir: Path,
    split: str = "test",
    batch: int = 16,
    threads: int = 2,
    plots: bool = False,
    confs: tuple[float, ...] = (0.25,),
) -> EvalResult:
    """Run ``model.val()`` on ``split``; metrics at Ultralytics' defaults (conf 0.001, IoU 0.7 for NMS). With
    ``plots`` the confusion matrix and PR curve are rendered offline (local DejaVu font, see training.offline)."""
    load_ultralytics(data_dir, threads)
    from ultralytics import YOLO

    model = YOLO(str(weights), task="detect")
    m = model.val(
        data=str(Path(data_yaml).resolve()),
        split=split,
        imgsz=imgsz,
        batch=batch,
        device="cpu",
        workers=0,
        plots=plots,
        save_json=False,
        project=str(Path(data_dir).resolve() / "runs"),
        name=f"val-{Path(weights).stem}-{split}",
        exist_ok=True,
        verbose=False,
    )
    box = m.box
    per_class = {}
    for i, c in enumerate(box.ap_class_index):
        c = int(c)
        p, r, ap50, ap = box.class_result(i)
        per_class[c] = ClassMetrics(
            name=m.names[c],
            images=int(m.nt_per_image[c]),
            instances=int(m.nt_per_class[c]),
            precision=round(float(p), 4),
            recall=round(float(r), 4),
            map50=round(float(ap50), 4),
            map50_95=round(float(ap), 4),
        )
    files = {}
    recall_at = {f"{c:g}": _recall_at(box, m.nt_per_class, c) for c in confs}
    if plots:
        save_dir = Path(m.save_dir)
        for name, pattern in (("confusion_matrix", "confusion_matrix_normalized.png"), ("pr_curve", "*PR_curve.png")):
            found = sorted(save_dir.glob(pattern))
            if found:
                files[name] = str(found[0])
    return EvalResult(
        plots=files,
        split=split,
        map50=round(float(box.map50), 4),
        map50_95=round(float(box.map), 4),
        precision=round(float(box.mp), 4),
        recall=round(float(box.mr), 4),
        recall_at_conf={k: v for k, v in recall_at.items() if v is not None},
        per_class=per_class,
    )


def _recall_at(box, instances_per_class, conf: float) -> float | None:
    """Object-weighted recall at ``conf`` from Ultralytics' recall-confidence curves (1000 steps over [0, 1])."""
    curve = getattr(box, "r_curve", None)
    if curve is None or not len(box.ap_class_index):
        return None
    step = min(len(curve[0]) - 1, round(conf * (len(curve[0]) - 1)))
    found = total = 0.0
    for i, c in enumerate(box.ap_class_index):
        n = float(instances_per_class[int(c)])
        found += float(curve[i][step]) * n
        total += n
    return round(found / total, 4) if total else None
