"""Inference benchmark: CropWatch's detector against Ultralytics' own ``predict()`` on the same ONNX model, in one run.

    .venv/bin/python benchmarks/inference.py [--model models/pest/pest-rice-yolo11n.onnx] [--repeats 60]

On the same real photos (rice-pests test split) resized to a camera-like 1920×1080, end to end from a decoded BGR
array to boxes in original pixels, it prints images/s and the ratio to Ultralytics for:

- ``YOLO(onnx).predict()`` (FP32 file);
- a bare onnxruntime session with default options running the same FP32 graph on a ready input (forward only: what
  the network costs with no pre/post-processing at all, for reference);
- CropWatch FP32, batch 1 and the best batch size;
- CropWatch INT8 (the ``.int8.onnx`` next to the model), batch 1 and the best batch size;

then the share of pre- and post-processing in CropWatch's time, mAP50 of FP32 and INT8 on the test split (Ultralytics'
validator on each ONNX file), and the peak RSS of a worker process with one model loaded. Timings alternate between
the contenders in blocks (background load drifts over all alike), each block after warm-up calls.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from training.pipeline import cpu_name  # noqa: E402
from training.ultralytics_env import configure_ultralytics  # noqa: E402

SHIPPED = PROJECT / "models" / "pest" / "pest-rice-yolo11n.onnx"
PHOTOS = PROJECT.parent / "shared" / "datasets" / "rice-pests" / "images" / "test"

RSS_PROBE = """
import sys, cv2
sys.path.insert(0, {project!r})
import cropwatch.worker.tasks  # the worker's modules: Celery app, service, model cache
from inference import OnnxDetector
det = OnnxDetector({model!r}, threads={threads})
import glob
for p in sorted(glob.glob({photos!r}))[:20]:
    det(cv2.resize(cv2.imread(p), (1920, 1080)))
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec() from the (big) benchmark process that forked us
print(int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024)
"""


def timed(fns: dict, warmup: int, repeats: int, blocks: int = 3) -> dict[str, list[float]]:
    """ms per call for each function, in alternating blocks, each block after ``warmup`` untimed calls."""
    out: dict[str, list[float]] = {name: [] for name in fns}
    for b in range(blocks):
        for name, fn in fns.items():
            for _ in range(warmup):
                fn()
            for _ in range(repeats // blocks + (b < repeats % blocks)):
                t = time.perf_counter()
                fn()
                out[name].append((time.perf_counter() - t) * 1000)
    return out


def peak_rss_mb(model: Path, threads: int) -> float:
    code = RSS_PROBE.format(project=str(PROJECT), model=str(model), threads=threads, photos=str(PHOTOS / "*.jpg"))
    env = {**os.environ, "CROPWATCH_DATA_DIR": tempfile.mkdtemp(prefix="cw-rss-")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def map50(model: Path, imgsz: int, work: Path, threads: int) -> float:
    from training.evaluate import evaluate
    from training.pipeline import prepare_data
    from training.recipes import RECIPES

    data_yaml = work / "dataset" / "data.yaml"
    if not data_yaml.exists():
        data_yaml, _ = prepare_data(RECIPES["pest"], work / "dataset")
    return evaluate(model, data_yaml, imgsz=imgsz, data_dir=work, split="test", threads=threads).map50


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=SHIPPED, help="FP32 ONNX; its .int8.onnx sibling is used too")
    ap.add_argument("--photos", type=Path, default=PHOTOS)
    ap.add_argument("--n-photos", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2, help="intra-op threads of one call (CROPWATCH_ONNX_THREADS)")
    ap.add_argument("--parallel", type=int, default=2, help="concurrent calls for a batch (CROPWATCH_ONNX_PARALLEL)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=60, help="timed calls per contender (batch calls: repeats/batch)")
    ap.add_argument("--batches", default="2,4,8")
    ap.add_argument("--no-map", action="store_true", help="skip the mAP50 evaluation")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cw-bench-"))
    configure_ultralytics(work)
    import onnxruntime as ort
    import torch
    from ultralytics import YOLO

    from inference import OnnxDetector

    fp32 = args.model
    int8 = fp32.with_name(f"{fp32.stem}.int8.onnx")
    files = sorted(args.photos.glob("*.jpg"))[: args.n_photos]
    photos = [cv2.resize(cv2.imread(str(f)), (1920, 1080), interpolation=cv2.INTER_AREA) for f in files]

    torch.set_num_threads(args.threads)
    det32 = OnnxDetector(fp32, threads=args.threads, parallel=args.parallel)
    det8 = OnnxDetector(int8, threads=args.threads, parallel=args.parallel) if int8.exists() else None
    yolo = YOLO(str(fp32), task="detect")
    torch.set_num_threads(args.threads)  # Ultralytics' own pre/post-processing runs in torch
    pred_kw = dict(conf=det32.conf, iou=det32.iou, imgsz=list(det32.imgsz), verbose=False)
    bare = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"])  # default options
    blob, _ = det32.preprocess([photos[0]])

    counter = iter(range(10**9))
    nxt = lambda: photos[next(counter) % len(photos)]  # noqa: E731 - cycle through the photos

    single = {
        "Ultralytics YOLO(onnx).predict()": lambda: yolo.predict(nxt(), **pred_kw),
        "bare onnxruntime session (forward only)": lambda: bare.run(None, {bare.get_inputs()[0].name: blob}),
        "CropWatch FP32 batch 1": lambda: det32(nxt()),
    }
    if det8:
        single["CropWatch INT8 batch 1"] = lambda: det8(nxt())
    ms = {k: statistics.median(v) for k, v in timed(single, args.warmup, args.repeats).items()}

    batch_sizes = [int(b) for b in args.batches.split(",") if b]
    batched = {}
    for b in batch_sizes:
        group = photos[:b]
        batched[f"CropWatch FP32 batch {b}"] = (lambda g=group: det32.predict_batch(g), b)
        if det8:
            batched[f"CropWatch INT8 batch {b}"] = (lambda g=group: det8.predict_batch(g), b)
    nb = max(batch_sizes)
    batched[f"Ultralytics predict(list of {nb}, batch={nb})"] = (
        lambda g=photos[:nb]: yolo.predict(g, batch=len(g), **pred_kw),
        nb,
    )
    bt = timed({k: fn for k, (fn, _) in batched.items()}, 1, max(6, args.repeats // max(batch_sizes)))
    per_image = {k: statistics.median(v) / batched[k][1] for k, v in bt.items()}
    ms[f"Ultralytics predict(list of {nb}, batch={nb})"] = per_image.pop(
        f"Ultralytics predict(list of {nb}, batch={nb})"
    )
    for variant in ("FP32", "INT8"):
        cands = {k: v for k, v in per_image.items() if variant in k}
        if cands:
            best = min(cands, key=cands.get)
            ms[f"CropWatch {variant} best batch ({best.rsplit(' ', 1)[1]})"] = cands[best]

    def split(det: OnnxDetector) -> dict[str, float]:
        img = photos[0]
        b, metas = det.preprocess([img])
        raw = det.forward(b)
        t = timed(
            {
                "pre": lambda: det.preprocess([img]),
                "forward": lambda: det.forward(b),
                "post": lambda: det.postprocess(raw, metas),
            },
            args.warmup,
            args.repeats,
        )
        return {k: statistics.median(v) for k, v in t.items()}

    splits = {"FP32": split(det32)} | ({"INT8": split(det8)} if det8 else {})

    print(
        f"\nCropWatch inference benchmark — {cpu_name()}, {os.cpu_count()} logical CPUs, {args.threads} threads "
        f"per call, batches over {args.parallel} concurrent calls, torch {torch.get_num_threads()} threads, "
        f"onnxruntime {ort.__version__}, provider {det32.provider}"
    )
    print(
        f"model {fp32.name} ({det32.sha256[:12]}), network input {det32.imgsz[0]} px, {len(photos)} real photos "
        f"resized to 1920×1080, conf {det32.conf} iou {det32.iou}; medians of {args.repeats} calls in 3 blocks"
    )
    base = ms["Ultralytics YOLO(onnx).predict()"]
    print(f"\n{'':44s} {'ms/image':>9s} {'images/s':>9s} {'× Ultralytics':>14s}")
    for name, v in ms.items():
        print(f"{name:44s} {v:9.2f} {1000 / v:9.1f} {base / v:13.2f}×")
    print("\nCropWatch time split, batch 1 (median ms):")
    for variant, sp in splits.items():
        total = sum(sp.values())
        print(
            f"  {variant}: pre {sp['pre']:.2f} + forward {sp['forward']:.2f} + post {sp['post']:.2f} = {total:.2f}"
            f" → pre+post {100 * (sp['pre'] + sp['post']) / total:.1f}% of the time"
        )
    if not args.no_map:
        m32 = map50(fp32, det32.imgsz[0], work, args.threads)
        line = f"\nmAP50 on the rice-pests test split: FP32 {m32:.3f}"
        if det8:
            m8 = map50(int8, det32.imgsz[0], work, args.threads)
            line += f", INT8 {m8:.3f} ({(m8 - m32) * 100:+.1f} points)"
        print(line)
    rss = {"FP32": peak_rss_mb(fp32, args.threads)} | ({"INT8": peak_rss_mb(int8, args.threads)} if det8 else {})
    print(
        "peak RSS of a worker process with one model loaded (worker modules imported, 20 photos processed): "
        + ", ".join(f"{k} {v:.0f} MB" for k, v in rss.items())
    )
    print(
        json.dumps(
            {"ms_per_image": {k: round(v, 3) for k, v in ms.items()}, "split_ms": splits, "peak_rss_mb": rss},
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
