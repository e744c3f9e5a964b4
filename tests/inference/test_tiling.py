"""Tiling: small insects on a large trap photo are found with tiling and missed without; windows cover the photo."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from inference.detector import OnnxDetector
from inference.tiling import TileConfig, detect_tiled, tile_windows

PROJECT = Path(__file__).resolve().parents[2]
PEST = PROJECT / "models" / "pest" / "pest-rice-yolo11n.onnx"
PLANTHOPPERS = PROJECT.parent / "shared" / "datasets" / "rice-pests" / "images" / "test"


@pytest.mark.parametrize(
    "h,w,tile,overlap", [(3000, 4000, 640, 0.3), (1080, 1920, 640, 0.2), (500, 700, 640, 0.2), (641, 1281, 640, 0.0)]
)
def test_windows_cover_the_image_with_the_asked_overlap(h, w, tile, overlap):
    wins = tile_windows(h, w, tile, overlap)
    covered = np.zeros((h, w), bool)
    for x0, y0, x1, y1 in wins:
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        assert (x1 - x0, y1 - y0) == (min(tile, w), min(tile, h)), "all windows share one shape (one batch)"
        covered[y0:y1, x0:x1] = True
    assert covered.all()
    xs = sorted({x0 for x0, *_ in wins})
    for a, b in zip(xs, xs[1:]):
        assert tile - (b - a) >= int(tile * overlap) - 1  # neighbours share at least the overlap


def test_bad_tile_settings_are_refused():
    with pytest.raises(ValueError):
        TileConfig(tile=8)
    with pytest.raises(ValueError):
        TileConfig(overlap=0.95)
    assert TileConfig.from_setting(None) is None
    assert TileConfig.from_setting({"tile": 800, "overlap": 0.25}) == TileConfig(tile=800, overlap=0.25)


def _matches(det, expected, cls):
    """For each expected box: how many detections of its class overlap it with IoU > 0.5."""
    counts = []
    for e, c in zip(expected, cls):
        ix = np.clip(np.minimum(det.xyxy[:, 2], e[2]) - np.maximum(det.xyxy[:, 0], e[0]), 0, None)
        iy = np.clip(np.minimum(det.xyxy[:, 3], e[3]) - np.maximum(det.xyxy[:, 1], e[1]), 0, None)
        inter = ix * iy
        union = (
            (det.xyxy[:, 2] - det.xyxy[:, 0]) * (det.xyxy[:, 3] - det.xyxy[:, 1])
            + (e[2] - e[0]) * (e[3] - e[1])
            - inter
        )
        counts.append(int(((inter / np.maximum(union, 1e-9) > 0.5) & (det.class_id == c)).sum()))
    return counts


def test_small_insects_on_a_large_trap_photo_need_tiling():
    detector = OnnxDetector(PEST, threads=1)
    # a real photo of brown planthoppers, pasted five times onto a 4000×3000 yellow "sticky trap"
    photo = cv2.imread(str(next(PLANTHOPPERS.glob("brown_0267_jpg*.jpg"))))
    photo = cv2.resize(photo, (640, 640))
    ref = detector(photo, conf=0.25)
    ref = ref[ref.confidence >= 0.4]  # the insects the model is sure of (the 480 px model is less overconfident)
    assert len(ref) >= 3, "the reference photo should show several planthoppers to the shipped model"
    trap = np.empty((3000, 4000, 3), np.uint8)
    trap[:] = (40, 220, 235)
    places = [(100, 200), (1500, 900), (3300, 100), (600, 2300), (2700, 2200)]
    expected, classes = [], []
    for x, y in places:
        trap[y : y + 640, x : x + 640] = photo
        expected += list(ref.xyxy + np.array([x, y, x, y], np.float32))
        classes += list(ref.class_id)

    whole = _matches(detector(trap, conf=0.25), expected, classes)
    tiled = _matches(detect_tiled(detector, trap, TileConfig(tile=640, overlap=0.3), conf=0.25), expected, classes)

    assert sum(c > 0 for c in whole) <= 2, f"without tiling the insects should be too small to see: {whole}"
    assert sum(c > 0 for c in tiled) >= 0.6 * len(expected), f"tiling should find most insects: {tiled}"
    assert max(tiled) == 1, "an insect seen by two overlapping windows must be counted once"
