"""``<model>.MODEL_CARD.md`` and ``<model>.card.json`` for a shipped model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models.registry import card_files, sha256_file  # noqa: F401 - re-exported for training.pipeline and tests  # noqa: E402  (one implementation, re-exported for training/)


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def _recall_line(m: dict[str, Any]) -> list[str]:
    """The share of labelled objects a farmer's count sees, at the confidence the worker and the alerts use."""
    at = m.get("recall_at_conf") or {}
    return [
        f"Objects found at confidence ≥ {conf} (what counts and alerts use): **{_pct(v)}** of the split's labels."
        for conf, v in at.items()
    ]


def _count_lines(card: dict[str, Any]) -> list[str]:
    """A trap model's count error on whole cards (training.count_eval), FP32 and INT8."""
    if not card.get("counts"):
        return []
    lines = [
        "",
        "## Count per whole card (tiled, as the worker reads a trap photo)",
        "",
        f"Confidence {card['detect'].get('conf')} chosen on the training and validation cards together (smallest "
        "mean absolute error; the test cards never choose); windows of the training size, overlap 0.2, cross-window "
        "NMS.",
        "",
        "| file | split | cards | labelled insects | counted | mean abs. error per card | ÷ mean true count | bias |",
        "|---|---|---|---|---|---|---|---|",
    ]
    files = [("FP32", card["counts"]), *((n.upper(), v.get("counts")) for n, v in (card.get("variants") or {}).items())]
    for label, counts in files:
        for split, c in (counts or {}).items():
            lines.append(
                f"| {label} | {split} | {c['cards']} | {c['true_total']} | {c['predicted_total']} | {c['mae']:.1f} "
                f"| **{c['relative_mae'] * 100:.1f}%** | {c['bias']:+.1f} |"
            )
    return lines


def _sweep_lines(card: dict[str, Any]) -> list[str]:
    """The runs this model was chosen from (``card["sweep"]``, written when a sweep picks the shipped size)."""
    rows = card.get("sweep") or []
    if not rows:
        return []
    lines = ["", "## Why this input size (the sweep)", ""]
    lines += ["| run | start | imgsz | epochs | test mAP50 | mAP50-95 | note |", "|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(
            f"| {r['run']} | {r['start']} | {r['imgsz']} | {r['epochs']} | {_pct(r.get('map50'))} | "
            f"{_pct(r.get('map50_95'))} | {r.get('note', '')} |"
        )
    if card.get("sweep_reason"):
        lines += ["", card["sweep_reason"]]
    return lines


def render_markdown(card: dict[str, Any]) -> str:
    m, rec, data, lat = card["metrics"], card["recipe"], card["dataset"], card["latency"]
    lines = [f"# Model card — {card['model']}", ""]
    start = card.get("start") or {"kind": "scratch", "note": "trained from scratch (no pretrained weights)"}
    lines += [f"**Start: {start['note']}.**", ""]
    for w in card.get("warnings", []):
        lines += [f"> **⚠ {w}**", ""]
    lines += [
        f"- Task: **{card['task']}** (object detection), architecture {card['architecture']}",
        f"- File: `{card['file']}` — {card['size_bytes'] / 1e6:.2f} MB, sha256 `{card['sha256']}`",
        f"- Input: {card['input']['description']}",
        f"- Produced by CropWatch {card['cropwatch_version']} on {card['created_at']}",
        "",
        "## Classes",
        "",
        "| id | name | tiếng Việt |",
        "|---|---|---|",
    ]
    lines += [f"| {k} | {v} | {card['names_vi'][k]} |" for k, v in card["names"].items()]
    lines += [
        "",
        "## Data",
        "",
        f"- Dataset: `{data['name']}` — license: {data['license']}",
        f"- Attribution: {data['attribution']}",
        f"- Images per split: {json.dumps(data['images'], ensure_ascii=False)}; objects per class: {json.dumps(data['boxes_per_class'], ensure_ascii=False)}",
    ]
    if data.get("import"):
        lines.append(f"- Import: {json.dumps(data['import'], ensure_ascii=False)}")
    lines += [
        "",
        "## Recipe",
        "",
        f"- Ultralytics {rec['ultralytics']}, torch {rec['torch']}, from `{rec['model_yaml']}` ({start['kind']}"
        + (f", sha256 `{start['sha256']}`" if start.get("sha256") else "")
        + ")",
        f"- epochs {rec['epochs']} (run: {rec['epochs_run']}), imgsz {rec['imgsz']}, batch {rec['batch']}, "
        f"seed {rec['seed']}, deterministic, CPU with {rec['threads']} threads",
        f"- Other train arguments: `{json.dumps(rec['train_args'], ensure_ascii=False)}`",
        f"- Training wall time: {rec['train_wall_s'] / 60:.1f} min",
        "",
        "## Test-split metrics",
        "",
        f"Split `{m['split']}`: **mAP50 {_pct(m['map50'])}**, **mAP50-95 {_pct(m['map50_95'])}**, "
        f"precision {_pct(m['precision'])}, recall {_pct(m['recall'])} (evaluated on the exported ONNX file).",
        *_recall_line(m),
        "",
        "| id | class | images | objects | P | R | mAP50 | mAP50-95 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for k, c in m["per_class"].items():
        lines.append(
            f"| {k} | {c['name']} | {c['images']} | {c['instances']} | {_pct(c['precision'])} | {_pct(c['recall'])} "
            f"| {_pct(c['map50'])} | {_pct(c['map50_95'])} |"
        )
    for name, v in (card.get("variants") or {}).items():
        vm, vl = v["metrics"], v["latency"]
        lines += [
            "",
            f"## {name.upper()} variant",
            "",
            *([f"- **{v['refused']}**"] if v.get("refused") else []),
            f"- File: `{v['file']}` — {v['size_bytes'] / 1e6:.2f} MB, sha256 `{v['sha256']}`"
            + (" (measured, not in models/)" if v.get("refused") else ""),
            f"- {v['method']}",
            f"- Test split: **mAP50 {_pct(vm['map50'])}** (FP32 {_pct(m['map50'])}, "
            f"{(vm['map50'] - m['map50']) * 100:+.1f} points), mAP50-95 {_pct(vm['map50_95'])} "
            f"(FP32 {_pct(m['map50_95'])}), precision {_pct(vm['precision'])}, recall {_pct(vm['recall'])}"
            + "".join(f", found at ≥ {c}: {_pct(r)}" for c, r in (vm.get("recall_at_conf") or {}).items()),
            f"- Network only, same settings as below: median **{vl['median_ms']} ms** (FP32 {lat['median_ms']} ms)",
            "",
            "| id | class | mAP50 FP32 | mAP50 " + name.upper() + " |",
            "|---|---|---|---|",
        ]
        for k, c in m["per_class"].items():
            q = vm["per_class"].get(k, {})
            lines.append(f"| {k} | {c['name']} | {_pct(c['map50'])} | {_pct(q.get('map50'))} |")
    lines += _count_lines(card)
    lines += _sweep_lines(card)
    lines += [
        "",
        "## Speed",
        "",
        f"ONNX Runtime CPU, {lat['threads']} threads, batch {lat['batch']} at {lat['imgsz']} px, network only: "
        f"median **{lat['median_ms']} ms**, p90 {lat['p90_ms']} ms ({lat['runs']} runs) on {card['machine']}.",
        "",
        "## Reproduce",
        "",
        "```sh",
        card["reproduce"],
        "```",
        "",
    ]
    return "\n".join(lines)


def write_model_card(out_dir: Path, card: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``<model>.card.json`` and ``<model>.MODEL_CARD.md`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    js, md = card_files(out_dir, card["model"])
    js.write_text(json.dumps(card, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    md.write_text(render_markdown(card), encoding="utf-8")
    return js, md
