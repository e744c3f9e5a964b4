"""Training benchmark: how far a from-scratch YOLO11n gets on rice-pests on this CPU, and whether pre-training on
field-pests-15 (2,594 web photos of 15 other pests, polygons converted to boxes) first closes part of the gap to a
COCO-pretrained start (the dataset's uploader reports mAP50 ≈ 0.87 from COCO weights).

    .venv/bin/python benchmarks/training.py --pretrain-epochs 15 --finetune-epochs 60   # ~1 h on 2 cores

Prints the wall time of each stage and mAP50 / mAP50-95 on the rice test split (53 photos), next to the shipped
from-scratch recipe's figures from its model card. Offline: model YAML, no weights downloaded, plots off.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from datasets.splits import train_val_route  # noqa: E402
from datasets.yolo import import_yolo, read_names, write_data_yaml  # noqa: E402
from training.evaluate import evaluate  # noqa: E402
from training.pipeline import SHARED_DATASETS, prepare_data  # noqa: E402
from training.recipes import RECIPES  # noqa: E402
from training.train import TrainConfig, train  # noqa: E402

FIELD_NAMES = {
    0: "Hellula undalis",
    1: "Leaf Webber",
    2: "ash weevil",
    3: "blister beetle",
    4: "fruit fly",
    5: "fruit sucking moth",
    6: "helicoverpa",
    7: "leucinodes",
    8: "mealy bug",
    9: "pieris",
    10: "plutella",
    11: "root grubs",
    12: "schizaphis graminum",
    13: "uroleucon compositae",
    14: "whitefly",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=PROJECT / "data" / "bench-training")
    ap.add_argument("--pretrain-epochs", type=int, default=15)
    ap.add_argument("--finetune-epochs", type=int, default=60)
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--pretrained",
        type=Path,
        default=None,
        help="skip pre-training and fine-tune from these weights (e.g. a stopped pre-training's last.pt)",
    )
    ap.add_argument("--pretrained-epochs", type=int, default=None, help="how many epochs those weights had (report)")
    args = ap.parse_args()
    work = args.work.resolve()
    rice = RECIPES["pest"]
    t0 = time.perf_counter()

    field = work / "field-pests-15"
    if not (field / "data.yaml").exists():
        stats = import_yolo(SHARED_DATASETS / "field-pests-15", field, splits=("train",), route=train_val_route(0.1))
        names = FIELD_NAMES
        yaml_path = SHARED_DATASETS / "field-pests-15" / "data.yaml"
        if yaml_path.exists():
            names = read_names(yaml_path)
        write_data_yaml(field, names, splits=("train", "val"))
        print(f"field-pests-15 imported: {dict(stats.images)}, polygons converted {stats.polygons_converted}")
    rice_yaml, _ = prepare_data(rice, work / "rice")

    t1 = time.perf_counter()
    if args.pretrained:
        start_weights, pre_epochs = args.pretrained, args.pretrained_epochs
        print(f"pre-training skipped: fine-tuning from {start_weights} ({pre_epochs} epochs on field-pests-15)")
    else:
        pre = train(
            TrainConfig(
                data_yaml=field / "data.yaml",
                data_dir=work,
                name="pretrain",
                epochs=args.pretrain_epochs,
                imgsz=args.imgsz,
                batch=16,
                threads=args.threads,
            )
        )
        start_weights, pre_epochs = pre.best, pre.epochs_run
        print(f"pre-training: {pre.epochs_run} epochs in {(time.perf_counter() - t1) / 60:.1f} min → {pre.best}")
    t2 = time.perf_counter()
    fine = train(
        TrainConfig(
            data_yaml=rice_yaml,
            data_dir=work,
            name="finetune",
            epochs=args.finetune_epochs,
            imgsz=args.imgsz,
            batch=16,
            threads=args.threads,
            model_yaml=str(start_weights),
        )
    )
    t3 = time.perf_counter()
    print(f"fine-tuning on rice: {fine.epochs_run} epochs in {(t3 - t2) / 60:.1f} min → {fine.best}")
    m = evaluate(fine.best, rice_yaml, imgsz=args.imgsz, data_dir=work, split="test", threads=args.threads)
    card = json.loads((PROJECT / "models" / "pest" / "model_card.json").read_text())
    print(f"\nrice-pests test split ({sum(1 for _ in (work / 'rice' / 'images' / 'test').iterdir())} photos):")
    print(
        f"  pre-train {pre_epochs} ep on field-pests-15 + fine-tune {args.finetune_epochs} ep: "
        f"mAP50 {m.map50:.3f}, mAP50-95 {m.map50_95:.3f}, total {(t3 - t0) / 60:.1f} min"
    )
    print(
        f"  shipped recipe (from scratch, {card['recipe']['epochs']} ep, {card['recipe']['train_wall_s'] / 60:.0f} "
        f"min): mAP50 {card['metrics']['map50']:.3f}, mAP50-95 {card['metrics']['map50_95']:.3f}"
    )


if __name__ == "__main__":
    main()
