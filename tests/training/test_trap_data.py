"""The sticky-trap recipe's data: whole cards are kept for counting, the network trains on windows of the cards at
their real size, and a card's split never changes (its windows all follow it)."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import yaml

from training.pipeline import prepare_data
from training.recipes import PEST_TRAP


def _source(root, cards):
    for split, names in cards.items():
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for i, name in enumerate(names):
            img = np.full((300, 500, 3), 235, np.uint8)
            lines = []
            for k in range(5 + i):  # 10 px insects in a row
                x, y = 40 + 80 * k % 420, 60 + 40 * (k // 5)
                cv2.circle(img, (x, y), 5, (30, 30, 30), -1)
                lines.append(f"1 {x / 500} {y / 300} {10 / 500} {10 / 300}")
            cv2.imwrite(str(root / "images" / split / f"{name}.jpg"), img)
            (root / "labels" / split / f"{name}.txt").write_text("\n".join(lines) + "\n")


def test_cards_are_kept_whole_and_trained_on_as_windows(tmp_path):
    shared = tmp_path / "shared"
    _source(shared / "traps", {"train": [f"card{i}" for i in range(8)], "test": ["t0", "t1"]})
    recipe = replace(PEST_TRAP, source="traps", tile=200, val_fraction=0.3)
    data_yaml, summary = prepare_data(recipe, tmp_path / "data", shared)
    root = data_yaml.parent
    cards = {p.stem: p.parent.name for p in (root / "cards" / "images").glob("*/*.jpg")}
    assert sorted(cards) == sorted([f"card{i}" for i in range(8)] + ["t0", "t1"])
    assert cards["t0"] == cards["t1"] == "test" and {"train", "val"} <= set(cards.values())
    windows = list((root / "images").glob("*/*.jpg"))
    assert windows and all(cv2.imread(str(w)).shape[:2] <= (200, 200) for w in windows)  # source pixels
    for w in windows:  # each window sits in its card's split
        assert cards[w.stem.rsplit("__", 1)[0]] == w.parent.name
    assert yaml.safe_load(data_yaml.read_text())["test"] == "images/test"
    tiles = summary["tiles"]
    assert tiles["tile"] == 200 and tiles["splits"]["test"]["cards"] == 2
    assert sum(tiles["splits"]["test"]["boxes_per_class"].values()) >= 5 + 6  # every insect, some twice
