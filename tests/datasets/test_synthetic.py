from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from datasets.synthetic import (
    RIPENESS_NAMES,
    RIPENESS_NAMES_VI,
    generate_ripeness_dataset,
    render_ripeness_scene,
    render_sticky_trap,
)
from datasets.yolo import read_names

COUNTS = {"train": 6, "val": 3, "test": 3}


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "data.yaml"
    }


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, object]:
    root = tmp_path_factory.mktemp("ripeness")
    return root, generate_ripeness_dataset(root, counts=COUNTS, imgsz=160, seed=7)


def test_same_seed_gives_identical_files(dataset, tmp_path):
    root, _ = dataset
    generate_ripeness_dataset(tmp_path / "again", counts=COUNTS, imgsz=160, seed=7)
    assert _files(root) == _files(tmp_path / "again")


def test_another_seed_gives_other_images(dataset, tmp_path):
    root, _ = dataset
    generate_ripeness_dataset(tmp_path / "other", counts={"train": 2}, imgsz=160, seed=8)
    a = (root / "images" / "train" / "ripeness_train_00000.jpg").read_bytes()
    b = (tmp_path / "other" / "images" / "train" / "ripeness_train_00000.jpg").read_bytes()
    assert a != b


def test_layout_labels_in_range_and_all_classes_present(dataset):
    root, stats = dataset
    assert dict(stats.images) == COUNTS
    seen = set()
    for split, n in COUNTS.items():
        images = sorted((root / "images" / split).glob("*.jpg"))
        labels = sorted((root / "labels" / split).glob("*.txt"))
        assert len(images) == len(labels) == n
        for lab in labels:
            rows = [line.split() for line in lab.read_text().splitlines()]
            assert rows, f"{lab.name} has no fruit"
            for cls, *box in rows:
                cx, cy, w, h = map(float, box)
                assert int(cls) in RIPENESS_NAMES
                seen.add(int(cls))
                assert 0 < w <= 1 and 0 < h <= 1
                assert -1e-6 <= cx - w / 2 and cx + w / 2 <= 1 + 1e-6
                assert -1e-6 <= cy - h / 2 and cy + h / 2 <= 1 + 1e-6
    assert seen == {0, 1, 2, 3}
    assert set(stats.boxes_per_class) == {0, 1, 2, 3}
    assert read_names(root / "data.yaml") == RIPENESS_NAMES
    assert set(RIPENESS_NAMES_VI) == set(RIPENESS_NAMES)


def test_scene_boxes_hold_the_fruit_colour():
    """A ripe box is reddish and an unripe box greenish: the labels match what was drawn."""
    reds, greens = [], []
    for i in range(6):
        img, boxes = render_ripeness_scene(np.random.default_rng([3, i]), 192)
        for b in boxes:
            patch = img[int(b.y1) : int(b.y2), int(b.x1) : int(b.x2)].reshape(-1, 3).astype(float)
            blue, green, red = np.median(patch, axis=0)
            (reds if b.cls == 2 else greens if b.cls == 0 else []).append(red - green)
    assert reds and greens
    assert np.median(reds) > 40 > np.median(greens)


def test_sticky_trap_boxes_inside_the_image():
    img, boxes = render_sticky_trap(np.random.default_rng(0), 256, max_insects=20)
    assert img.shape == (256, 256, 3) and img.dtype == np.uint8
    assert boxes
    for b in boxes:
        assert b.cls == 0
        assert 0 <= b.x1 < b.x2 <= 256 and 0 <= b.y1 < b.y2 <= 256
    b, g, r = img.reshape(-1, 3).mean(axis=0)
    assert r > 150 and g > 150 and b < r  # a yellow card
