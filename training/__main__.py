"""``python -m training pest|ripeness``: reproduce a shipped model end to end (offline, CPU)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from training.pipeline import REPO_ROOT, SHARED_DATASETS, build, quantize_shipped, refresh_metrics, with_overrides
from training.recipes import RECIPES
from training.start_weights import CheckpointError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)

DataDir = Annotated[Path, typer.Option(help="work folder for datasets, runs and the Ultralytics config")]
ModelsDir = Annotated[Path, typer.Option(help="where models/<task>/ lives")]
Shared = Annotated[Path, typer.Option(help="read-only folder holding the source datasets")]


def _run(task: str, epochs, imgsz, batch, seed, data_dir, models_dir, shared, threads, start, resume) -> None:
    recipe = with_overrides(RECIPES[task], epochs=epochs, imgsz=imgsz, batch=batch, seed=seed, start=start)
    try:
        card = build(recipe, data_dir=data_dir, models_dir=models_dir, shared=shared, threads=threads, resume=resume)
    except CheckpointError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(2) from None
    m = card["metrics"]
    typer.echo(
        f"{card['model']}: test mAP50 {m['map50']:.3f}, mAP50-95 {m['map50_95']:.3f}, "
        f"{card['latency']['median_ms']} ms/image, {card['size_bytes'] / 1e6:.1f} MB"
    )


def _command(task: str):
    def command(
        epochs: Annotated[int | None, typer.Option(help="default: the recipe's")] = None,
        imgsz: Annotated[int | None, typer.Option()] = None,
        batch: Annotated[int | None, typer.Option()] = None,
        seed: Annotated[int | None, typer.Option()] = None,
        data_dir: DataDir = REPO_ROOT / "data",
        models_dir: ModelsDir = REPO_ROOT / "models",
        shared: Shared = SHARED_DATASETS,
        threads: Annotated[int, typer.Option(help="torch and onnxruntime threads")] = 2,
        start: Annotated[
            str | None,
            typer.Option(
                help="pretrained (CROPWATCH_PRETRAINED_WEIGHTS or shared/weights/yolo11n-coco.pt) | scratch | "
                "a model YAML | a .pt checkpoint; default: the recipe's"
            ),
        ] = None,
        resume: Annotated[
            bool, typer.Option(help="continue the run's last.pt if a previous run was cut short")
        ] = False,
    ) -> None:
        _run(task, epochs, imgsz, batch, seed, data_dir, models_dir, shared, threads, start, resume)

    command.__doc__ = f"Reproduce the shipped {task} model ({RECIPES[task].model_name})."
    return command


for _task in RECIPES:
    app.command(name=_task)(_command(_task))


@app.command()
def quantize(
    task: Annotated[str, typer.Argument(help=", ".join(RECIPES))],
    data_dir: DataDir = REPO_ROOT / "data",
    models_dir: ModelsDir = REPO_ROOT / "models",
    shared: Shared = SHARED_DATASETS,
    threads: Annotated[int, typer.Option(help="onnxruntime threads")] = 2,
) -> None:
    """Add the INT8 variant (static QDQ quantization) to the shipped model of TASK, with its test metrics."""
    if task not in RECIPES:
        raise typer.BadParameter(f"unknown task {task!r}; choose from {', '.join(RECIPES)}")
    card = quantize_shipped(RECIPES[task], data_dir=data_dir, models_dir=models_dir, shared=shared, threads=threads)
    fp, q = card["metrics"], card["variants"]["int8"]["metrics"]
    typer.echo(
        f"{card['model']}: test mAP50 FP32 {fp['map50']:.3f} → INT8 {q['map50']:.3f} "
        f"({(q['map50'] - fp['map50']) * 100:+.1f} points)"
    )


@app.command(name="evaluate")
def evaluate_shipped(
    model: Annotated[str, typer.Argument(help=", ".join(RECIPES))],
    data_dir: DataDir = REPO_ROOT / "data",
    models_dir: ModelsDir = REPO_ROOT / "models",
    shared: Shared = SHARED_DATASETS,
    threads: Annotated[int, typer.Option(help="onnxruntime threads")] = 2,
) -> None:
    """Re-evaluate the shipped FP32 and INT8 files of MODEL on its test split and rewrite its card's metrics."""
    if model not in RECIPES:
        raise typer.BadParameter(f"unknown model {model!r}; choose from {', '.join(RECIPES)}")
    card = refresh_metrics(RECIPES[model], data_dir=data_dir, models_dir=models_dir, shared=shared, threads=threads)
    m = card["metrics"]
    typer.echo(f"{card['model']}: test mAP50 {m['map50']:.3f}, found at ≥ 0.25: {m['recall_at_conf']}")


if __name__ == "__main__":
    app()
