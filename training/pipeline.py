"""End to end: data → train → export → evaluate → latency → model card → ``models/<task>/``."""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import json
import os
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from datasets.splits import split_route
from datasets.synthetic import generate_ripeness_dataset
from datasets.tiles import tile_split
from datasets.yolo import import_yolo, write_data_yaml
from inference.tiling import TileConfig
from models.registry import DEFAULT_DETECT
from training.count_eval import best_conf, card_scores, count_result
from training.evaluate import evaluate
from training.latency import measure_latency
from training.model_card import card_files, sha256_file, write_model_card
from training.offline import load_ultralytics
from training.quantize import QuantizeConfig, calibration_count, calibration_images, int8_path, quantize_int8
from training.recipes import RECIPES, Recipe
from training.start_weights import resolve_start
from training.train import TrainConfig, export_onnx, train

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATASETS = REPO_ROOT.parent / "shared" / "datasets"

Log = Callable[[str], None]


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cropwatch_version() -> str:
    try:
        return importlib.metadata.version("cropwatch")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def prepare_data(recipe: Recipe, dest: Path, shared: Path = SHARED_DATASETS) -> tuple[Path, dict[str, Any]]:
    """Build the recipe's dataset afresh in ``dest``; return its data.yaml and a summary for the card."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    if recipe.source is None and recipe.task != "ripeness":
        raise ValueError(f"recipe {recipe.model_name} names no source dataset")
    if recipe.source is not None:
        src = shared / recipe.source
        source_splits = sorted(p.name for p in (src / "images").iterdir() if p.is_dir())
        route = split_route(recipe.val_fraction, recipe.test_fraction, has_test="test" in source_splits)
        stats = import_yolo(src, dest, splits=source_splits, route=route, num_classes=len(recipe.names))
        tiles = _tile_cards(dest, recipe) if recipe.tile else None
        data_yaml = write_data_yaml(dest, recipe.names)
        rule = f"source train → val when sha256(filename stem before '.rf.') < {recipe.val_fraction}"
        rule += (
            "; source test → test"
            if "test" in source_splits
            else (f"; → test when sha256('test:' + stem) < {recipe.test_fraction} (never trained on)")
        )
        summary = {
            "images": dict(sorted(stats.images.items())),
            "boxes_per_class": {str(k): v for k, v in sorted(stats.boxes_per_class.items())},
            "import": {
                "source": str(src),
                "split_rule": rule,
                "polygons_converted": stats.polygons_converted,
                "boxes_clamped": stats.boxes_clamped,
                "lines_dropped": stats.lines_dropped,
                "drop_reasons": dict(stats.drop_reasons),
            },
        }
        if tiles is not None:
            summary["tiles"] = tiles
    else:
        syn = generate_ripeness_dataset(dest, counts=recipe.synthetic_counts, imgsz=recipe.imgsz, seed=recipe.seed)
        data_yaml = dest / "data.yaml"
        summary = {
            "images": dict(syn.images),
            "boxes_per_class": {str(k): v for k, v in sorted(syn.boxes_per_class.items())},
            "generator": {"module": "datasets.synthetic.generate_ripeness_dataset", "seed": recipe.seed},
        }
    return data_yaml, summary


def _tile_cards(dest: Path, recipe: Recipe) -> dict[str, Any]:
    """Move the imported whole cards to ``dest/cards`` and put their windows where the data.yaml points."""
    cards = dest / "cards"
    cards.mkdir()
    for part in ("images", "labels"):
        (dest / part).rename(cards / part)
    out = {"tile": recipe.tile, "overlap": recipe.tile_overlap, "splits": {}}
    for split_dir in sorted(p for p in (cards / "images").iterdir() if p.is_dir()):
        split = split_dir.name
        st = tile_split(
            split_dir,
            cards / "labels" / split,
            dest / "images" / split,
            dest / "labels" / split,
            tile=recipe.tile,
            overlap=recipe.tile_overlap,
        )
        out["splits"][split] = st.as_dict()
    return out


def trap_counts(recipe: Recipe, onnx_path: Path, data_yaml: Path, *, threads: int, conf: float | None = None):
    """Count error on whole cards (tiled as the worker reads them): the confidence chosen on the training and
    validation cards together unless given (7 validation cards of 236 insects were too few to choose it: their
    choice over-counted the test cards by 15%), then every split at it; the test cards never choose. Returns
    (conf, {"train+val": ..., "val": ..., "test": ...})."""
    cards = Path(data_yaml).parent / "cards"
    tile = TileConfig(tile=recipe.tile, overlap=0.2, include_full=False)
    settings = DEFAULT_DETECT | recipe.detect
    scores = {
        split: card_scores(
            onnx_path,
            cards / "images" / split,
            cards / "labels" / split,
            tile=tile,
            iou=settings["iou"],
            max_det=settings["max_det"],
            threads=threads,
        )
        for split in ("train", "val", "test")
    }
    calibration = {**scores.pop("train"), **scores["val"]}
    chosen = best_conf(calibration) if conf is None else conf
    scores = {"train+val": calibration, **scores}
    return chosen, {split: count_result(split, sc, chosen).as_dict() for split, sc in scores.items()}


#: an INT8 file ships only within this much mAP50 of its FP32 file on the test split; otherwise the FP32 file
#: serves (the worker and the edge agent fall back to it) and the card says why
INT8_TOLERANCE = 0.01


def int8_refusal(fp32_metrics: dict[str, Any], int8_metrics: dict[str, Any]) -> str | None:
    """Why the INT8 variant does not ship (None: it does)."""
    drop = fp32_metrics["map50"] - int8_metrics["map50"]
    if drop <= INT8_TOLERANCE + 1e-9:
        return None
    return (
        f"not shipped: INT8 mAP50 {int8_metrics['map50']:.3f} is {drop * 100:.1f} points below FP32 "
        f"{fp32_metrics['map50']:.3f} (the limit is {INT8_TOLERANCE * 100:.0f} point); the FP32 file serves"
    )


@contextlib.contextmanager
def exclusive(work: Path):
    """Refuse a second build of the same model into the same work dir while one runs (it would wipe its data)."""
    work.mkdir(parents=True, exist_ok=True)
    with open(work / "build.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another build is running in {work}; use another --data-dir") from None
        yield


def _publish(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` atomically (readers never see a half-written model)."""
    tmp = dst.with_name(f".{dst.name}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def reproduce_command(recipe: Recipe) -> str:
    key = next((k for k, r in RECIPES.items() if r.model_name == recipe.model_name), recipe.task)
    return (
        f"cd <repo> && .venv/bin/python -m training {key} "
        f"--epochs {recipe.epochs} --imgsz {recipe.imgsz} --batch {recipe.batch} --seed {recipe.seed} "
        f"--start {recipe.start}"
    )


def build(
    recipe: Recipe,
    *,
    data_dir: Path,
    models_dir: Path = REPO_ROOT / "models",
    shared: Path = SHARED_DATASETS,
    threads: int = 2,
    log: Log = print,
    resume: bool = False,
) -> dict[str, Any]:
    """Reproduce one shipped model; returns its card (also written next to the ONNX in ``models_dir``)."""
    data_dir = Path(data_dir).resolve()
    work = data_dir / "training" / recipe.model_name
    with exclusive(work):
        return _build(
            recipe,
            data_dir=data_dir,
            work=work,
            models_dir=models_dir,
            shared=shared,
            threads=threads,
            log=log,
            resume=resume,
        )


def _build(
    recipe: Recipe,
    *,
    data_dir: Path,
    work: Path,
    models_dir: Path,
    shared: Path,
    threads: int,
    log: Log,
    resume: bool = False,
) -> dict[str, Any]:
    ultralytics = load_ultralytics(data_dir, threads)  # before anything else imports it
    import torch

    t_start = time.perf_counter()
    start = resolve_start(recipe.start)  # a bad checkpoint is refused before any data is prepared
    log(f"[{recipe.model_name}] {start.note}")

    log(f"[{recipe.model_name}] preparing data in {work / 'dataset'}")
    data_yaml, data_summary = prepare_data(recipe, work / "dataset", shared)
    log(f"[{recipe.model_name}] data: {json.dumps(data_summary)}")

    cfg = TrainConfig(
        data_yaml=data_yaml,
        data_dir=work,
        name="train",
        epochs=recipe.epochs,
        imgsz=recipe.imgsz,
        batch=recipe.batch,
        seed=recipe.seed,
        model_yaml=start.model,
        threads=threads,
        overrides=dict(recipe.overrides),
        resume=resume,
    )
    result = train(cfg)
    log(f"[{recipe.model_name}] trained {result.epochs_run} epochs in {result.wall_s:.0f} s → {result.best}")

    version = cropwatch_version()
    meta = {
        "cropwatch_task": recipe.task,
        "cropwatch_dataset": recipe.dataset,
        "cropwatch_version": version,
        "cropwatch_model": recipe.model_name,
        "cropwatch_names_vi": json.dumps({str(k): v for k, v in recipe.names_vi.items()}, ensure_ascii=False),
    }
    onnx_path = export_onnx(result.best, imgsz=recipe.imgsz, data_dir=work, metadata=meta, threads=threads)
    log(f"[{recipe.model_name}] exported {onnx_path}")

    metrics = evaluate(onnx_path, data_yaml, imgsz=recipe.imgsz, data_dir=work, split="test", threads=threads)
    log(f"[{recipe.model_name}] test: mAP50 {metrics.map50} mAP50-95 {metrics.map50_95}")
    latency = measure_latency(onnx_path, imgsz=recipe.imgsz, threads=threads)
    log(f"[{recipe.model_name}] latency: {latency.median_ms} ms")

    card = {
        "model": recipe.model_name,
        "task": recipe.task,
        "file": f"{recipe.model_name}.onnx",
        "sha256": sha256_file(onnx_path),
        "size_bytes": onnx_path.stat().st_size,
        "architecture": f"YOLO11n (Ultralytics), {start.note}",
        "family": recipe.family,
        "crops": list(recipe.crops),
        "camera_kinds": list(recipe.camera_kinds),
        "detect": dict(recipe.detect),
        "start": start.as_dict(),
        "input": {
            "imgsz": recipe.imgsz,
            "dynamic_axes": ["batch", "height", "width"],
            "description": f"float32 NCHW RGB in [0, 1], letterboxed to {recipe.imgsz}×{recipe.imgsz} "
            "(batch, height and width are dynamic axes); output (batch, 4 + classes, anchors), no NMS",
        },
        "names": {str(k): v for k, v in recipe.names.items()},
        "names_vi": {str(k): v for k, v in recipe.names_vi.items()},
        "onnx_metadata": meta,
        "dataset": {
            "name": recipe.dataset,
            "license": recipe.license,
            "attribution": recipe.attribution,
            **data_summary,
        },
        "recipe": {
            "model_yaml": start.model if start.kind == "scratch" else Path(start.model).name,
            "epochs": recipe.epochs,
            "epochs_run": result.epochs_run,
            "imgsz": recipe.imgsz,
            "batch": recipe.batch,
            "seed": recipe.seed,
            "deterministic": True,
            "threads": threads,
            "train_args": {k: v for k, v in cfg.train_args().items() if k not in {"data", "project", "name"}},
            "train_wall_s": round(result.wall_s, 1),
            "ultralytics": ultralytics.__version__,
            "torch": torch.__version__,
        },
        "metrics": metrics.as_dict(),
        "latency": latency.as_dict(),
        "machine": cpu_name(),
        "reproduce": reproduce_command(recipe),
        "warnings": list(recipe.warnings),
        "cropwatch_version": version,
        "created_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "pipeline_wall_s": round(time.perf_counter() - t_start, 1),
    }
    card["variants"] = {"int8": quantize_variant(recipe, onnx_path, data_yaml, work=work, threads=threads, log=log)}
    card["variants"]["int8"]["file"] = int8_path(Path(card["file"])).name  # the name it is published under
    if recipe.tile:
        conf, counts = trap_counts(recipe, onnx_path, data_yaml, threads=threads)
        card["detect"]["conf"] = conf
        card["detect"]["tile"] = recipe.tile  # read over windows wherever it runs (registry.tiling)
        card["counts"] = counts
        _, card["variants"]["int8"]["counts"] = trap_counts(
            recipe, int8_path(onnx_path), data_yaml, threads=threads, conf=conf
        )
        log(
            f"[{recipe.model_name}] trap counts at conf {conf}: {json.dumps({k: v['relative_mae'] for k, v in counts.items()})}"
        )
    refused = int8_refusal(card["metrics"], card["variants"]["int8"]["metrics"])
    if refused:
        card["variants"]["int8"]["refused"] = refused
        log(f"[{recipe.model_name}] INT8 {refused}")
    write_model_card(work / "card", card)
    target_dir = Path(models_dir) / recipe.task
    target_dir.mkdir(parents=True, exist_ok=True)
    if refused:
        (target_dir / card["variants"]["int8"]["file"]).unlink(missing_ok=True)  # a previous build's
    else:
        _publish(int8_path(onnx_path), target_dir / card["variants"]["int8"]["file"])
    _publish(onnx_path, target_dir / card["file"])
    for staged in card_files(work / "card", recipe.model_name):
        _publish(staged, target_dir / staged.name)
    log(f"[{recipe.model_name}] published {target_dir / card['file']} and its card")
    return card


def quantize_variant(
    recipe: Recipe,
    onnx_path: Path,
    data_yaml: Path,
    *,
    work: Path,
    threads: int,
    log: Log = print,
    config: QuantizeConfig = QuantizeConfig(),
    split: str = "test",
) -> dict[str, Any]:
    """Write ``<model>.int8.onnx`` next to ``onnx_path`` (static QDQ, calibrated on the training split) and return
    its card section: file, sha256, size, test-split metrics and latency, measured like the FP32 file's."""
    n = calibration_count(config, recipe.imgsz)
    images = calibration_images(Path(data_yaml).parent / "images" / "train", n, config.seed)
    out = quantize_int8(onnx_path, int8_path(onnx_path), images, imgsz=recipe.imgsz, config=config)
    log(f"[{recipe.model_name}] quantized to INT8 with {len(images)} calibration images → {out}")
    metrics = evaluate(out, data_yaml, imgsz=recipe.imgsz, data_dir=work, split=split, threads=threads)
    log(f"[{recipe.model_name}] INT8 {split}: mAP50 {metrics.map50} mAP50-95 {metrics.map50_95}")
    latency = measure_latency(out, imgsz=recipe.imgsz, threads=threads)
    return {
        "file": out.name,
        "sha256": sha256_file(out),
        "size_bytes": out.stat().st_size,
        "method": f"onnxruntime static quantization, QDQ, {config.method} calibration on {len(images)} "
        f"training images (seed {config.seed}), per-channel int8 weights, uint8 activations, "
        "detection-head decode kept in float",
        "metrics": metrics.as_dict(),
        "latency": latency.as_dict(),
    }


def quantize_shipped(
    recipe: Recipe,
    *,
    data_dir: Path,
    models_dir: Path = REPO_ROOT / "models",
    shared: Path = SHARED_DATASETS,
    threads: int = 2,
    log: Log = print,
) -> dict[str, Any]:
    """Add the INT8 variant to an already shipped model (its card gains a ``variants.int8`` section)."""
    data_dir = Path(data_dir).resolve()
    work = data_dir / "training" / recipe.model_name
    target_dir = Path(models_dir) / recipe.task
    card = json.loads(card_files(target_dir, recipe.model_name)[0].read_text())
    fp32 = target_dir / card["file"]
    if sha256_file(fp32) != card["sha256"]:
        raise RuntimeError(f"{fp32} does not match its model card's sha256")
    with exclusive(work):
        load_ultralytics(data_dir=work, threads=threads)
        data_yaml, _ = prepare_data(recipe, work / "dataset", shared)
        staged = work / "quantize" / card["file"]
        staged.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(fp32, staged)
        section = quantize_variant(recipe, staged, data_yaml, work=work, threads=threads, log=log)
        card.setdefault("variants", {})["int8"] = section
        write_model_card(work / "card", card)
        _publish(int8_path(staged), target_dir / section["file"])
        for staged_card in card_files(work / "card", recipe.model_name):
            _publish(staged_card, target_dir / staged_card.name)
    log(f"[{recipe.model_name}] published {target_dir / section['file']} and the updated card")
    return card


def refresh_metrics(
    recipe: Recipe,
    *,
    data_dir: Path,
    models_dir: Path = REPO_ROOT / "models",
    shared: Path = SHARED_DATASETS,
    threads: int = 2,
    log: Log = print,
) -> dict[str, Any]:
    """Re-evaluate a shipped model's FP32 and INT8 files on the test split and rewrite their card's metrics (after
    the evaluation gains a figure; the files, their recipe and their timings are left as they are). An INT8 file
    that is now more than :data:`INT8_TOLERANCE` below FP32 is withdrawn from ``models/`` (the card says why)."""
    data_dir = Path(data_dir).resolve()
    work = data_dir / "training" / recipe.model_name
    target_dir = Path(models_dir) / recipe.task
    card = json.loads(card_files(target_dir, recipe.model_name)[0].read_text())
    with exclusive(work):
        load_ultralytics(data_dir=work, threads=threads)
        data_yaml, _ = prepare_data(recipe, work / "dataset", shared)
        files = {
            "fp32": card["file"],
            **{k: v["file"] for k, v in (card.get("variants") or {}).items() if not v.get("refused")},
        }
        for variant, name in files.items():
            path = target_dir / name
            expected = card["sha256"] if variant == "fp32" else card["variants"][variant]["sha256"]
            if sha256_file(path) != expected:
                raise RuntimeError(f"{path} does not match its model card's sha256")
            staged = work / "evaluate" / name
            staged.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, staged)
            metrics = evaluate(staged, data_yaml, imgsz=recipe.imgsz, data_dir=work, split="test", threads=threads)
            log(f"[{recipe.model_name}] {variant} test: mAP50 {metrics.map50}, found {metrics.recall_at_conf}")
            (card if variant == "fp32" else card["variants"][variant])["metrics"] = metrics.as_dict()
        int8 = (card.get("variants") or {}).get("int8")
        if int8 and not int8.get("refused") and (refused := int8_refusal(card["metrics"], int8["metrics"])):
            int8["refused"] = refused  # the shipping rule, applied to the new figures
            (target_dir / int8["file"]).unlink()
            log(f"[{recipe.model_name}] INT8 {refused}")
        write_model_card(work / "card", card)
        for staged_card in card_files(work / "card", recipe.model_name):
            _publish(staged_card, target_dir / staged_card.name)
    return card


def with_overrides(recipe: Recipe, **changes: Any) -> Recipe:
    """A copy of ``recipe`` with the non-None ``changes`` applied (CLI options)."""
    return replace(recipe, **{k: v for k, v in changes.items() if v is not None})
