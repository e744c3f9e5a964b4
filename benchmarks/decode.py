"""Decoding a worker's batch of big phone photos: at full size, or straight near the model's side (JPEG DCT scaling).

    .venv/bin/python benchmarks/decode.py              # about a minute; --photos 8 --width 4000 --model pest

Each mode runs in a fresh process (so the peak RSS is its own): it decodes a batch of ``--photos`` real rice-pest
test photos enlarged to ``--width`` px (a 12 MP phone photo by default, JPEG quality 92) the way the worker does
(``inference.decode.decode_reduced`` with the model's side, or at full size), runs the shipped model on the batch
and prints decode ms per photo, the decoded pixels' MB, the process's peak RSS, the detections at the worker's
confidence 0.25 (boxes in the photo's own pixels) and how many of the photos' labelled insects they find (same class,
IoU ≥ 0.5); then how many of the full-size detections the reduced read finds
(same class, IoU ≥ 0.8). Ratios between the modes are comparable even on a busy machine; absolute ms are not.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))


def _photos(n: int, width: int, folder: Path) -> list[Path]:
    import cv2

    src = sorted((PROJECT.parent / "shared" / "datasets" / "rice-pests" / "images" / "test").glob("*.jpg"))[:n]
    out = []
    for p in src:
        img = cv2.imread(str(p))
        h = round(img.shape[0] * width / img.shape[1])
        big = cv2.resize(img, (width, h), interpolation=cv2.INTER_CUBIC)
        target = folder / p.name
        cv2.imwrite(str(target), big, [cv2.IMWRITE_JPEG_QUALITY, 92])
        out.append(target)
    return out


def _child(mode: str, model: Path, photos: list[str]) -> dict:
    from inference.decode import decode_reduced
    from inference.detector import OnnxDetector

    detector = OnnxDetector(model, threads=2)
    side = max(detector.imgsz) if mode == "reduced" else None
    t0 = time.perf_counter()
    decoded = [decode_reduced(Path(p).read_bytes(), long_side=side) for p in photos]
    decode_ms = (time.perf_counter() - t0) * 1000 / len(photos)
    dets = detector.predict_batch([d.image for d in decoded], conf=0.25)
    boxes = [[r.to_json() for r in det.scaled(*d.scale).records(detector.names)] for det, d in zip(dets, decoded)]
    return {
        "mode": mode,
        "decode_ms": round(decode_ms, 1),
        "pixels_mb": round(sum(d.image.nbytes for d in decoded) / 1e6, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "detections": boxes,
        "decoded": f"{decoded[0].image.shape[1]}×{decoded[0].image.shape[0]}",
    }


def _labels(photos: list[str]) -> list[list[tuple[int, list[float]]]]:
    """Each photo's labelled boxes (class id, xyxy in the enlarged photo's pixels) from the dataset's YOLO labels."""
    import cv2

    labels = PROJECT.parent / "shared" / "datasets" / "rice-pests" / "labels" / "test"
    out = []
    for p in photos:
        h, w = cv2.imread(p, cv2.IMREAD_REDUCED_GRAYSCALE_8).shape[:2]
        w, h = w * 8, h * 8  # the enlarged photo's size (a multiple of 8 here)
        boxes = []
        txt = labels / (Path(p).stem + ".txt")
        for line in txt.read_text().splitlines() if txt.exists() else []:
            parts = line.split()
            if len(parts) == 5:
                c, cx, cy, bw, bh = int(parts[0]), *map(float, parts[1:])
                boxes.append((c, [(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h]))
        out.append(boxes)
    return out


def _found(truth: list[list[tuple[int, list[float]]]], dets: list[list[dict]]) -> int:
    """Labelled objects with a detection of their class at IoU ≥ 0.5."""
    import numpy as np

    from inference.detections import DetectionRecord
    from inference.nms import box_iou

    n = 0
    for t, d in zip(truth, dets):
        rd = [DetectionRecord.from_json(x) for x in d]
        if not t or not rd:
            continue
        iou = box_iou(np.array([b for _, b in t]), np.array([r.xyxy for r in rd]))
        n += sum(any(iou[i, j] >= 0.5 and rd[j].class_id == c for j in range(len(rd))) for i, (c, _) in enumerate(t))
    return n


def _agreement(full: list[list[dict]], reduced: list[list[dict]]) -> tuple[int, int]:
    import numpy as np

    from inference.detections import DetectionRecord
    from inference.nms import box_iou

    found = total = 0
    for a, b in zip(full, reduced):
        ra, rb = [DetectionRecord.from_json(d) for d in a], [DetectionRecord.from_json(d) for d in b]
        total += len(ra)
        if not ra or not rb:
            continue
        iou = box_iou(np.array([r.xyxy for r in ra]), np.array([r.xyxy for r in rb]))
        for i, r in enumerate(ra):
            found += any(iou[i, j] >= 0.8 and rb[j].class_id == r.class_id for j in range(len(rb)))
    return found, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", type=int, default=8)
    ap.add_argument("--width", type=int, default=4000)
    ap.add_argument("--model", default="pest", help="pest | pest-field | ripeness")
    ap.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    from training.recipes import RECIPES

    recipe = RECIPES[args.model]
    model = PROJECT / "models" / recipe.task / f"{recipe.model_name}.onnx"
    if args.child:
        print(json.dumps(_child(args.child[0], model, args.child[1:])))
        return
    with tempfile.TemporaryDirectory() as tmp:
        photos = [str(p) for p in _photos(args.photos, args.width, Path(tmp))]
        truth = _labels(photos)
        rows = {}
        for mode in ("full", "reduced"):
            out = subprocess.run(
                [sys.executable, __file__, "--model", args.model, "--child", mode, *photos],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            rows[mode] = json.loads(out.strip().splitlines()[-1])
    found, total = _agreement(rows["full"]["detections"], rows["reduced"]["detections"])
    labelled = sum(len(t) for t in truth)
    print(f"\n{recipe.model_name}: a batch of {args.photos} photos {args.width} px wide (JPEG q92), conf 0.25\n")
    print(
        f"| decode | decoded size | decode ms/photo | pixels MB | peak RSS MB | detections | of {labelled} labelled found |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for mode, r in rows.items():
        n, hit = sum(len(d) for d in r["detections"]), _found(truth, r["detections"])
        print(f"| {mode} | {r['decoded']} | {r['decode_ms']} | {r['pixels_mb']} | {r['peak_rss_mb']} | {n} | {hit} |")
    print(f"\nfull-size detections found by the reduced read (same class, IoU ≥ 0.8): {found} of {total}")
    print(f"decode {rows['full']['decode_ms'] / rows['reduced']['decode_ms']:.1f}× faster, "
          f"peak RSS {rows['full']['peak_rss_mb'] - rows['reduced']['peak_rss_mb']:.0f} MB lower")  # fmt: skip


if __name__ == "__main__":
    main()
