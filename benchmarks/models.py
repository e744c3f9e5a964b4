"""The shipped detectors' figures, one table: how each was started and trained, test-split and golden-set accuracy,
INT8 accuracy and speed on this CPU, and training wall time.

    .venv/bin/python benchmarks/models.py            # the models under models/<task>/
    .venv/bin/python benchmarks/models.py --runs /var/tmp/cropwatch-runs/models   # a training's output folder

The figures are those the training pipeline measured (``python -m training <task>`` writes them into each
``<model>.card.json`` after evaluating the exported ONNX files on the test split); this script re-checks each file's
sha256 against its card and prints them, with the recall at the alert's confidence where the card has it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from training.model_card import sha256_file  # noqa: E402


def _f(v: float | None, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v * 100:.1f}%"


def rows(models_dir: Path) -> list[dict]:
    out = []
    for card_path in sorted(models_dir.glob("*/*.card.json")):
        card = json.loads(card_path.read_text(encoding="utf-8"))
        onnx = card_path.parent / card["file"]
        ok = onnx.is_file() and sha256_file(onnx) == card["sha256"]
        m, rec = card["metrics"], card["recipe"]
        q = (card.get("variants") or {}).get("int8") or {}
        out.append(
            {
                "model": card["model"],
                "ok": ok,
                "start": (card.get("start") or {}).get("kind", "scratch"),
                "imgsz": rec["imgsz"],
                "epochs": rec.get("epochs_run", rec["epochs"]),
                "map50": m.get("map50"),
                "map50_95": m.get("map50_95"),
                "recall": m.get("recall"),
                "found": (m.get("recall_at_conf") or {}).get("0.25"),
                "count_err": ((card.get("counts") or {}).get("test") or {}).get("relative_mae"),
                "int8_map50": (q.get("metrics") or {}).get("map50"),
                "int8_shipped": bool(q) and not q.get("refused"),
                "int8_ms": (q.get("latency") or {}).get("median_ms"),
                "fp32_ms": (card.get("latency") or {}).get("median_ms"),
                "train_min": rec.get("train_wall_s", 0) / 60,
                "golden": (m.get("golden") or {}).get("map50"),
                "license": card["dataset"]["license"],
            }
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=Path, default=PROJECT / "models", help="a folder holding <task>/<model>.card.json")
    args = ap.parse_args()
    table = rows(args.runs)
    if not table:
        raise SystemExit(f"no <model>.card.json under {args.runs}/<task>/")
    head = (
        "model",
        "file ok",
        "start",
        "imgsz",
        "epochs",
        "test mAP50",
        "mAP50-95",
        "recall",
        "found@0.25",
        "card count error",
        "golden mAP50",
        "INT8 mAP50",
        "INT8 ms",
        "FP32 ms",
        "train min",
        "licence",
    )
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in table:
        print(
            f"| {r['model']} | {'yes' if r['ok'] else 'NO'} | {r['start']} | {r['imgsz']} | {r['epochs']} | "
            f"{_f(r['map50'])} | {_f(r['map50_95'])} | {_f(r['recall'])} | {_f(r['found'])} | "
            f"{_pct(r['count_err'])} | {_f(r['golden'])} | "
            f"{_f(r['int8_map50'])}{'' if r['int8_shipped'] else ' (not shipped)'} | {_f(r['int8_ms'], 1)} | {_f(r['fp32_ms'], 1)} | {r['train_min']:.0f} | "
            f"{r['license']} |"
        )
    if not all(r["ok"] for r in table):
        raise SystemExit("a model file does not match its card")


if __name__ == "__main__":
    main()
