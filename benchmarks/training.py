"""Training sweep: input size × starting weights for one shipped recipe, each run end to end as the recipe ships
(train, export, test-split evaluation, INT8 quantization), printed as one table.

    .venv/bin/python benchmarks/training.py --model pest --sizes 320,480,640 --starts pretrained,scratch --epochs 35

Each run publishes into ``--work``/<size>-<start>/models (never into models/); a run whose card is already there is
read back instead of trained again, so a sweep can be spread over several sessions (or its 640 px rows run on a GPU
machine and copied back). The shipped model's own card is printed as the first row. Columns: mAP50 and mAP50-95 on
the test split, recall at Ultralytics' best-F1 confidence, objects found at the worker's confidence 0.25, INT8 mAP50
and the INT8 network time per image (ONNX Runtime CPU, batch 1), training wall time. Offline: the start checkpoint is
read from disk (training.start_weights), plots off.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from models.registry import card_files  # noqa: E402
from training.pipeline import SHARED_DATASETS, build, with_overrides  # noqa: E402
from training.recipes import RECIPES  # noqa: E402


def _f(v: float | None, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def row(label: str, card: dict) -> dict:
    m, rec = card["metrics"], card["recipe"]
    q = (card.get("variants") or {}).get("int8") or {}
    return {
        "run": label,
        "start": (card.get("start") or {}).get("kind", "scratch"),
        "imgsz": rec["imgsz"],
        "epochs": rec.get("epochs_run", rec["epochs"]),
        "map50": m["map50"],
        "map50_95": m["map50_95"],
        "recall": m["recall"],
        "found": (m.get("recall_at_conf") or {}).get("0.25"),
        "int8_map50": (q.get("metrics") or {}).get("map50"),
        "int8_ms": (q.get("latency") or {}).get("median_ms"),
        "train_min": rec.get("train_wall_s", 0) / 60,
    }


def print_table(rows: list[dict]) -> None:
    head = ("run", "start", "imgsz", "epochs", "mAP50", "mAP50-95", "R@bestF1", "found@0.25", "INT8 mAP50", "INT8 ms",
            "train min")  # fmt: skip
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        cells = (r["run"], r["start"], r["imgsz"], r["epochs"], _f(r["map50"]), _f(r["map50_95"]), _f(r["recall"]),
                 _f(r["found"]), _f(r["int8_map50"]), _f(r["int8_ms"], 1), _f(r["train_min"], 0))  # fmt: skip
        print("| " + " | ".join(str(c) for c in cells) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="pest", choices=sorted(RECIPES))
    ap.add_argument("--sizes", default="320,480,640")
    ap.add_argument("--starts", default="pretrained", help="comma-separated: pretrained, scratch, a .pt or a YAML")
    ap.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    ap.add_argument("--work", type=Path, default=Path("/var/tmp/cropwatch-runs/sweep"))
    ap.add_argument("--shared", type=Path, default=SHARED_DATASETS)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dry-run", action="store_true", help="print the rows already measured, train nothing")
    args = ap.parse_args()
    base = RECIPES[args.model]
    shipped_card = card_files(PROJECT / "models" / base.task, base.model_name)[0]
    rows = [row("shipped", json.loads(shipped_card.read_text()))] if shipped_card.exists() else []
    for size in (int(s) for s in args.sizes.split(",")):
        for start in args.starts.split(","):
            recipe = with_overrides(base, imgsz=size, start=start, epochs=args.epochs)
            out = args.work / args.model / f"{size}-{Path(start).stem}-{recipe.epochs}ep"
            card_path = card_files(out / "models" / recipe.task, recipe.model_name)[0]
            if not card_path.exists():
                if args.dry_run:
                    print(f"not measured yet: {out.name}")
                    continue
                build(recipe, data_dir=out, models_dir=out / "models", shared=args.shared, threads=args.threads)
            rows.append(row(out.name, json.loads(card_path.read_text())))
    print(f"\n{base.model_name}: {base.dataset}, test split; runs in {args.work / args.model}\n")
    print_table(rows)


if __name__ == "__main__":
    main()
