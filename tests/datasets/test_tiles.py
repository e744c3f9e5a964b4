"""A trap card cut into training windows: every insect is learnt whole from some window, at its real size."""

from __future__ import annotations

import cv2
import numpy as np

from datasets.tiles import read_boxes, tile_split


def _card(tmp_path, boxes, size=(700, 1000)):
    images, labels = tmp_path / "cards" / "images", tmp_path / "cards" / "labels"
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    h, w = size
    img = np.full((h, w, 3), 230, np.uint8)
    lines = []
    for c, x0, y0, x1, y1 in boxes:
        cv2.rectangle(img, (x0, y0), (x1, y1), (20, 20, 20), -1)
        lines.append(f"{c} {(x0 + x1) / 2 / w} {(y0 + y1) / 2 / h} {(x1 - x0) / w} {(y1 - y0) / h}")
    cv2.imwrite(str(images / "card.jpg"), img)
    (labels / "card.txt").write_text("\n".join(lines) + "\n")
    return images, labels


def test_every_insect_is_whole_in_a_window_at_its_real_size(tmp_path):
    # a 10 px insect in the middle, one on a window edge, a fly in a corner
    boxes = [(1, 495, 345, 505, 355), (1, 395, 100, 405, 110), (0, 960, 660, 990, 690)]
    images, labels = _card(tmp_path, boxes)
    out_i, out_l = tmp_path / "tiles" / "images", tmp_path / "tiles" / "labels"
    stats = tile_split(images, labels, out_i, out_l, tile=400, overlap=0.2)
    assert stats.cards == 1 and stats.windows == len(list(out_i.glob("*.jpg"))) == 6  # 3 across, 2 down
    whole = {tuple(b[1:]) for b in boxes}
    seen = set()
    for tile in out_i.glob("*.jpg"):
        x0, y0 = (int(v) for v in tile.stem.rsplit("__", 1)[1].split("_"))
        img = cv2.imread(str(tile))
        assert img.shape[0] <= 400 and img.shape[1] <= 400  # source pixels: nothing is resized
        for c, bx0, by0, bx1, by1 in read_boxes(out_l / f"{tile.stem}.txt", img.shape[1], img.shape[0]):
            seen.add((round(bx0 + x0), round(by0 + y0), round(bx1 + x0), round(by1 + y0)))
            assert c in (0, 1)
    assert whole <= seen, "each insect appears uncut in at least one window"
    assert sum(stats.boxes.values()) >= len(boxes)


def test_an_insect_mostly_outside_a_window_is_not_a_label_there(tmp_path):
    # 10 px wide, only 2 px of it inside the left window (which ends at x=400)
    images, labels = _card(tmp_path, [(1, 398, 345, 408, 355)], size=(400, 800))
    out_i, out_l = tmp_path / "t" / "images", tmp_path / "t" / "labels"
    stats = tile_split(images, labels, out_i, out_l, tile=400, overlap=0.0)
    left, right = (out_l / "card__0_0.txt").read_text(), (out_l / "card__400_0.txt").read_text()
    assert left == "" and len(right.splitlines()) == 1
    assert stats.cut_boxes_dropped == 1 and stats.empty_windows == 1
