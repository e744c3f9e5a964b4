"""ms/image of ``OnnxDetector`` vs ``YOLO(onnx).predict()``: same ONNX file, same real photos, same thresholds.

    python benchmarks/detector_vs_ultralytics.py [--model models/pest/pest-rice-yolo11n.onnx] [--repeats 30]

End to end from a decoded BGR array to boxes in original pixels (letterbox, inference, NMS, scaling), single image and
a batch of 8 (one session call for us; ``predict(list, batch=8)`` for Ultralytics). Timed in alternating blocks, each
after warm-up calls; median and p95. Both run in this one process (torch's idle OpenMP threads can slow the ONNX
Runtime calls that follow, hence the warm-up per block). Without ``--model`` it uses the shipped pest model, or builds an untrained YOLO11n from its YAML
(no download) and exports it to a temporary ONNX. Our pre/forward/post split is printed too.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from cropwatch.offline import configure_ultralytics  # noqa: E402

SHIPPED = PROJECT / "models" / "pest" / "pest-rice-yolo11n.onnx"
PHOTOS = PROJECT.parent / "shared" / "datasets" / "rice-pests" / "images" / "test"


def build_untrained(folder: Path, imgsz: int) -> Path:
    from ultralytics import YOLO

    with contextlib.chdir(folder):
        return folder / YOLO("yolo11n.yaml").export(format="onnx", dynamic=True, imgsz=imgsz, verbose=False)


def timed(fns: dict, warmup: int, repeats: int, per: int = 1, blocks: int = 3) -> dict[str, list[float]]:
    """ms per image for each function, in alternating blocks (so background load drifts over all of them alike);
    each block starts with ``warmup`` untimed calls, which also lets the other library's idle threads go to sleep."""
    out: dict[str, list[float]] = {name: [] for name in fns}
    for b in range(blocks):
        for name, fn in fns.items():
            for _ in range(warmup):
                fn()
            for _ in range(repeats // blocks + (b < repeats % blocks)):
                t = time.perf_counter()
                fn()
                out[name].append((time.perf_counter() - t) * 1000 / per)
    return out


def stats(ms: list[float]) -> str:
    return f"{statistics.median(ms):8.2f} {float(np.percentile(ms, 95)):8.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--photos", type=Path, default=PHOTOS)
    ap.add_argument("--imgsz", type=int, default=640, help="export size when building an untrained model")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--conf", type=float, default=0.25)
    ap.add_argument("--iou", type=float, default=0.7)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="cw-bench-"))
    configure_ultralytics(tmp)
    from inference import OnnxDetector, decode_image

    model = args.model or (SHIPPED if SHIPPED.exists() else None)
    if model is None:
        model = build_untrained(tmp, args.imgsz)
        print(f"no shipped model: built an untrained YOLO11n at {args.imgsz} px -> {model}")
    files = sorted(args.photos.glob("*.jpg"))[: max(args.batch, 8)]
    photos = [decode_image(f.read_bytes()) for f in files]

    det = OnnxDetector(model, threads=args.threads, conf=args.conf, iou=args.iou)
    import torch
    from ultralytics import YOLO

    torch.set_num_threads(args.threads)
    yolo = YOLO(str(model), task="detect")
    imgsz = list(det.imgsz)
    predict = dict(conf=args.conf, iou=args.iou, imgsz=imgsz, verbose=False)

    it = iter(range(10**9))
    nxt = lambda: photos[next(it) % len(photos)]  # noqa: E731 - cycle through the photos
    batch = photos[: args.batch]
    rows = timed({
        "OnnxDetector       single": lambda: det(nxt()),
        "YOLO(onnx).predict single": lambda: yolo.predict(nxt(), **predict),
    }, args.warmup, args.repeats)
    rows |= timed({
        f"OnnxDetector       batch {args.batch}": lambda: det.predict_batch(batch),
        f"YOLO(onnx).predict batch {args.batch}": lambda: yolo.predict(batch, batch=len(batch), **predict),
    }, args.warmup, args.repeats, per=len(batch))
    img = photos[0]
    blob, metas = det.preprocess([img])
    raw = det.forward(blob)
    split = timed({
        "pre": lambda: det.preprocess([img]),
        "forward": lambda: det.forward(blob),
        "post": lambda: det.postprocess(raw, metas),
    }, args.warmup, args.repeats)

    print(f"\nmodel {model} ({det.sha256[:12]}), imgsz {det.imgsz}, {len(det.names)} classes, provider {det.provider}, "
          f"{args.threads} threads, photos {img.shape[1]}x{img.shape[0]} x{len(photos)}, "
          f"conf {args.conf} iou {args.iou}, {args.repeats} runs in 3 blocks, {args.warmup} warm-up calls per block")
    print(f"{'ms/image':34s} {'median':>8s} {'p95':>8s}")
    for name, ms in rows.items():
        print(f"{name:34s} {stats(ms)}")
    print("OnnxDetector split (single): " + ", ".join(f"{k} {statistics.median(v):.2f}" for k, v in split.items()))


if __name__ == "__main__":
    main()
