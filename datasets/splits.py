"""Stable splits: an image's split depends only on its name, so re-imports and new images never reshuffle."""

from __future__ import annotations

import hashlib
from pathlib import Path


def source_key(name: str) -> str:
    """The part of a file name that names the original photo.

    Roboflow exports add ``.rf.<hash>`` to every copy of a photo (augmentations included);
    keying on what comes before it keeps all copies of one photo in one split.
    """
    stem = Path(name).stem
    return stem.split(".rf.", 1)[0]


def hash_fraction(name: str, salt: str = "") -> float:
    """A number in [0, 1) fixed by the name (sha256, not Python's salted ``hash``)."""
    digest = hashlib.sha256(f"{salt}{source_key(name)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def hash_split(name: str, val_fraction: float = 0.15, salt: str = "") -> str:
    """``'val'`` for about ``val_fraction`` of names, ``'train'`` for the rest."""
    return "val" if hash_fraction(name, salt) < val_fraction else "train"


def train_val_route(val_fraction: float = 0.15, salt: str = ""):
    """A route for :func:`datasets.yolo.import_yolo`: source ``train`` → train/val by hash, others keep their name."""

    def route(split: str, image: Path) -> str:
        return hash_split(image.name, val_fraction, salt) if split == "train" else split

    return route


def split_route(val_fraction: float = 0.15, test_fraction: float = 0.0, *, has_test: bool = True, salt: str = ""):
    """Like :func:`train_val_route`; a source without a test split gets one carved out first, stable by name
    (``sha256('test:' + stem) < test_fraction``), so no later import ever trains on it."""
    carve = not has_test and test_fraction > 0

    def route(split: str, image: Path) -> str:
        if split != "train":
            return split
        if carve and hash_fraction(image.name, f"test:{salt}") < test_fraction:
            return "test"
        return hash_split(image.name, val_fraction, salt)

    return route
