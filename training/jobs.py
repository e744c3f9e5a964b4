"""A training run as a job: dataset version in, candidate model version out (offline Ultralytics, CPU or GPU).

Steps, each logged into the run's row (status, progress, log lines the API shows): materialize the dataset version
from object storage → train from a model YAML or fine-tune the weights of a registered version → export ONNX →
evaluate on the version's test split (and the current production model on the same split, for the promotion gate)
→ INT8 variant → register a *candidate* with its metrics, dataset version, run and PyTorch weights. Promotion is a
separate, gated step (``models.registry.promote_gated``).
"""

from __future__ import annotations

import json
import logging
import shutil
import traceback
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from cropwatch.core.orm import DatasetVersion, ModelVersion, TrainingRun
from cropwatch.core.settings import Settings
from cropwatch.core.storage import Storage
from cropwatch.core.timeutil import utcnow
from datasets import golden
from datasets.versions import materialize
from models import registry

log = logging.getLogger(__name__)

#: ``start``: ``auto`` continues from the weights of the production model serving the cooperative (continual
#: learning), else from the pretrained checkpoint (training.start_weights), else from scratch; ``pretrained`` and
#: ``scratch`` (``model_yaml``) choose explicitly. A base version given with the run always wins. Continuing from a
#: model whose classes differ from the dataset's is refused unless ``allow_class_change`` (its head is then rebuilt).
DEFAULT_PARAMS = {
    "epochs": 30,
    "imgsz": 320,
    "batch": 16,
    "seed": 0,
    "model_yaml": "yolo11n.yaml",
    "quantize": True,
    "start": "auto",
    "allow_class_change": False,
}
START_CHOICES = ("auto", "pretrained", "scratch")


def create_run(
    session: Session,
    *,
    dataset: DatasetVersion,
    params: dict[str, Any],
    created_by: int | None,
    base: ModelVersion | None = None,
    cooperative_id: int | None = None,
) -> TrainingRun:
    unknown = set(params) - set(DEFAULT_PARAMS)
    if unknown:
        raise ValueError(f"unknown training parameters: {', '.join(sorted(unknown))}")
    if base is not None and not base.weights_key:
        raise ValueError(f"model version {base.id} has no PyTorch weights to fine-tune from (shipped ONNX only)")
    if params.get("start", "auto") not in START_CHOICES:
        raise ValueError(f"start must be one of {', '.join(START_CHOICES)}")
    run = TrainingRun(
        cooperative_id=cooperative_id,
        dataset_version_id=dataset.id,
        base_model_version_id=base.id if base else None,
        params={**DEFAULT_PARAMS, **params},
        created_by=created_by,
        status="queued",
    )
    session.add(run)
    session.flush()
    return run


class _RunLog:
    def __init__(self, sessions: sessionmaker[Session], run_id: int, echo=None) -> None:
        self.sessions, self.run_id, self.echo = sessions, run_id, echo

    def __call__(self, line: str, progress: float | None = None, **fields: Any) -> None:
        stamp = utcnow().strftime("%H:%M:%S")
        with self.sessions.begin() as s:
            run = s.get(TrainingRun, self.run_id)
            run.log = (run.log or "") + f"[{stamp}] {line}\n"
            if progress is not None:
                run.progress = round(progress, 3)
            for k, v in fields.items():
                setattr(run, k, v)
        if self.echo:
            self.echo(line)


def _split_with_images(dataset_dir: Path) -> str:
    for split in ("test", "val", "train"):
        folder = dataset_dir / "images" / split
        if folder.is_dir() and any(folder.iterdir()):
            return split
    raise ValueError("the dataset version has no images")


def _score_on_golden(storage, rows, work: Path, onnx_path: Path, cfg, current_info, classes, note) -> dict:
    """Candidate and production mAP50 on the same golden images (what the promotion gate compares)."""
    from training.evaluate import evaluate

    yaml_path = golden.materialize(storage, rows, classes, work / "golden")
    if yaml_path is None:
        return {"images": 0}
    cand = evaluate(onnx_path, yaml_path, imgsz=cfg.imgsz, data_dir=work, split="test", threads=cfg.threads)
    out = {"images": len(rows), "map50": cand.map50, "map50_95": cand.map50_95}
    if current_info:
        key, sha, cur_id, cur_size = current_info
        cur_path = work / f"production-{sha[:12]}.onnx"
        if not cur_path.exists():
            cur_path.write_bytes(storage.get_bytes(key))
        base = evaluate(cur_path, yaml_path, imgsz=cur_size, data_dir=work, split="test", threads=cfg.threads)
        out |= {"baseline_model_version_id": cur_id, "baseline_map50": base.map50}
    note(
        f"golden set ({len(rows)} images): candidate mAP50 {cand.map50:.3f}"
        + (f", production {out['baseline_map50']:.3f}" if "baseline_map50" in out else ""),
        0.9,
    )
    return out


def execute(
    run_id: int, *, sessions: sessionmaker[Session], storage: Storage, settings: Settings, echo=None
) -> TrainingRun:
    """Run a queued training run to the end; on error the run is marked failed with the reason (never raised)."""
    note = _RunLog(sessions, run_id, echo)
    with sessions.begin() as s:
        run = s.get(TrainingRun, run_id)
        if run.status not in ("queued", "failed"):
            return run
        run.status, run.started_at, run.error = "running", utcnow(), None
        params = dict(run.params)
        dv = s.get(DatasetVersion, run.dataset_version_id)
        dv_id, dv_name, task, dv_classes = dv.id, dv.name, dv.task, dict(dv.classes)
        base = s.get(ModelVersion, run.base_model_version_id) if run.base_model_version_id else None
        run_coop, run_by = run.cooperative_id, run.created_by
        # the baseline: the production model serving this cooperative with the dataset's classes (its crop family)
        current = registry.production_for_classes(s, task, run_coop, dv_classes)
        # production is scored at its own input size, the candidate at the run's
        current_info = (current.onnx_key, current.sha256, current.id, current.input_size) if current else None
        start_from = None  # (weights key, version id, classes, why)
        if base is not None:
            start_from = (base.weights_key, base.id, dict(base.classes), "the base version chosen for this run")
        elif params.get("start", "auto") == "auto" and current is not None and current.weights_key:
            start_from = (
                current.weights_key,
                current.id,
                dict(current.classes),
                "the production model (continual learning)",
            )
        family = base.family if base else (current.family if current else None)
        golden_rows = golden.images(s, task=task, family=family, cooperative_id=run_coop)
        for g in golden_rows:
            s.expunge(g)
    work = settings.data_dir / "training-runs" / str(run_id)
    try:
        from training.evaluate import evaluate
        from training.pipeline import quantize_variant
        from training.recipes import RECIPES
        from training.train import TrainConfig, export_onnx, train

        if work.exists():
            shutil.rmtree(work)
        with sessions() as s:
            data_yaml = materialize(storage, s.get(DatasetVersion, dv_id), work / "dataset")
        note(f"dataset {dv_name} v{dv_id} materialized in {work / 'dataset'}", 0.02)
        if start_from is not None:
            key, from_id, from_classes, why = start_from
            same = {int(k): v for k, v in from_classes.items()} == {int(k): v for k, v in dv_classes.items()}
            if not same and not params.get("allow_class_change"):
                raise ValueError(
                    f"model version {from_id} detects {sorted(from_classes.values())}, the dataset "
                    f"has {sorted(dv_classes.values())}; set allow_class_change to rebuild its head"
                )
            model_yaml = str(work / "base.pt")
            Path(model_yaml).write_bytes(storage.get_bytes(key))
            start_note = f"continued from model version {from_id}: {why}"
        else:
            from training.start_weights import resolve_start

            start = resolve_start("scratch" if params.get("start") == "scratch" else "pretrained")
            model_yaml = start.model if start.kind != "scratch" else params["model_yaml"]
            start_note = start.note
        note(start_note)
        cfg = TrainConfig(
            data_yaml=data_yaml,
            data_dir=work,
            name="train",
            epochs=int(params["epochs"]),
            imgsz=int(params["imgsz"]),
            batch=int(params["batch"]),
            seed=int(params["seed"]),
            model_yaml=model_yaml,
            threads=settings.onnx_threads,
        )

        def on_epoch(epoch: int, epochs: int, metrics: dict[str, float]) -> None:
            m50 = metrics.get("metrics/mAP50(B)")
            note(
                f"epoch {epoch}/{epochs}" + (f": val mAP50 {m50:.3f}" if m50 is not None else ""),
                0.05 + 0.75 * epoch / max(1, epochs),
            )

        result = train(cfg, on_epoch=on_epoch)
        note(f"trained {result.epochs_run} epochs in {result.wall_s:.0f} s", 0.8)
        meta = {"cropwatch_task": task.value, "cropwatch_dataset": f"{dv_name}/v{dv_id}", "cropwatch_run": str(run_id)}
        recipe = RECIPES.get(task.value)
        if recipe is not None:
            meta["cropwatch_names_vi"] = json.dumps({str(k): v for k, v in recipe.names_vi.items()}, ensure_ascii=False)
        onnx_path = export_onnx(result.best, imgsz=cfg.imgsz, data_dir=work, metadata=meta, threads=cfg.threads)
        split = _split_with_images(work / "dataset")
        metrics = evaluate(
            onnx_path, data_yaml, imgsz=cfg.imgsz, data_dir=work, split=split, threads=cfg.threads, plots=True
        )
        summary: dict[str, Any] = {**metrics.as_dict(), "split": split, "start": start_note}
        reports = {}
        for name, path in summary.pop("plots", {}).items():
            key = f"models/{task.value}/reports/run-{run_id}/{name}.png"
            storage.put_bytes(key, Path(path).read_bytes(), "image/png")
            reports[name] = key
        summary["reports"] = reports
        note(f"candidate on the {split} split: mAP50 {metrics.map50:.3f}, mAP50-95 {metrics.map50_95:.3f}", 0.85)
        if current_info:
            key, sha, cur_id, cur_size = current_info
            cur_path = work / f"production-{sha[:12]}.onnx"
            cur_path.write_bytes(storage.get_bytes(key))
            base_metrics = evaluate(
                cur_path, data_yaml, imgsz=cur_size, data_dir=work, split=split, threads=cfg.threads
            )
            summary["baseline"] = {
                "model_version_id": cur_id,
                "map50": base_metrics.map50,
                "map50_95": base_metrics.map50_95,
            }
            note(f"production model {cur_id} on the same split: mAP50 {base_metrics.map50:.3f}", 0.9)
        if golden_rows:
            summary["golden"] = _score_on_golden(
                storage,
                golden_rows,
                work,
                onnx_path,
                cfg,
                current_info,
                {int(k): v for k, v in dv_classes.items()},
                note,
            )
        variant = None
        if params.get("quantize") and recipe is not None and (work / "dataset" / "images" / "train").is_dir():
            from dataclasses import replace

            variant = quantize_variant(
                replace(recipe, imgsz=cfg.imgsz),
                onnx_path,
                data_yaml,
                work=work,
                threads=cfg.threads,
                log=lambda line: note(line),
                split=split,
            )
        with sessions.begin() as s:
            # trained on a cooperative's data: the version belongs to that cooperative (models/registry.py)
            mv = registry.register(
                s,
                storage,
                onnx_path,
                task=task,
                name=f"{dv_name}-run{run_id}",
                card={"metrics": summary, "family": family},
                cooperative_id=run_coop,
                by=run_by,
            )
            mv.metrics = summary
            mv.dataset_version_id, mv.training_run_id = dv_id, run_id
            weights_key = f"models/{task.value}/weights/{mv.sha256}.pt"
            storage.put_bytes(weights_key, Path(result.best).read_bytes())
            mv.weights_key = weights_key
            if variant:
                registry.add_variant(
                    s, storage, mv, onnx_path.with_name(variant["file"]), variant="int8", metrics=variant["metrics"]
                )
            run = s.get(TrainingRun, run_id)
            run.status, run.progress, run.finished_at = "done", 1.0, utcnow()
            run.metrics, run.model_version_id = summary, mv.id
            mv_id = mv.id
        note(f"registered candidate model version {mv_id}")
    except Exception as exc:
        log.exception("training run %s failed", run_id)
        note(
            f"failed: {exc}",
            status="failed",
            error="".join(traceback.format_exception_only(exc)).strip(),
            finished_at=utcnow(),
        )
    with sessions() as s:
        run = s.get(TrainingRun, run_id)
        s.expunge(run)
        return run
