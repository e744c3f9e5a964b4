from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from datasets.splits import hash_split, source_key, train_val_route
from datasets.yolo import ImportStats, convert_label_text, convert_line, import_yolo, read_names, write_data_yaml

SHARED = Path("/work/shared/datasets")
FIELD_PESTS = SHARED / "field-pests-15"
RICE_PESTS = SHARED / "rice-pests"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="shared datasets not mounted")


def _floats(line: str) -> list[float]:
    return [float(x) for x in line.split()]


def _copy_sample(src_root: Path, split: str, names: list[str], dest: Path) -> Path:
    for stem in names:
        for kind, suffix in (("images", ".jpg"), ("labels", ".txt")):
            (dest / kind / split).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src_root / kind / split / f"{stem}{suffix}", dest / kind / split / f"{stem}{suffix}")
    return dest


def _tree_state(root: Path) -> dict[str, int]:
    """mtime of every directory and file (a new file changes its directory's mtime)."""
    state = {str(root): root.stat().st_mtime_ns}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            state[p] = os.stat(p).st_mtime_ns
    return state


@pytest.mark.parametrize(
    ("line", "expected", "kind"),
    [
        ("6 0.5 0.5 0.2 0.1", "6 0.5 0.5 0.2 0.1", "box"),  # a valid box stays as written
        ("6   0.421875 0.82265625\t0.08828125 0.128125", "6 0.421875 0.82265625 0.08828125 0.128125", "box"),
        ("2 0.1 0.2 0.3 0.2 0.3 0.6 0.1 0.6", "2 0.200000 0.400000 0.200000 0.400000", "polygon"),
        ("1 -0.1 0.5 1.2 0.5 0.4 0.9", "1 0.500000 0.700000 1.000000 0.400000", "polygon"),  # clamped
        ("0 0.95 0.5 0.2 0.2", "0 0.925000 0.500000 0.150000 0.200000", "clamped"),
        ("3.0 0.5 0.5 0.2 0.2", "3 0.5 0.5 0.2 0.2", "box"),
    ],
)
def test_convert_line_keeps_or_converts(line, expected, kind):
    res = convert_line(line, num_classes=7)
    assert res.kind == kind
    assert res.line.split()[0] == expected.split()[0]
    assert _floats(res.line) == pytest.approx(_floats(expected), abs=1e-6)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("x 0.5 0.5 0.1 0.1", "not_a_number"),
        ("1 0.5 0.5 0.1", "bad_length"),
        ("1 0.1 0.2 0.3 0.4 0.5 0.6 0.7", "bad_length"),  # odd number of polygon coordinates
        ("1 0.5 0.5 0 0.1", "degenerate"),
        ("1 0.3 0.3 0.3 0.3 0.3 0.3", "degenerate"),  # polygon collapsed to a point
        ("1 1.5 1.5 0.2 0.2", "degenerate"),  # wholly outside the image
        ("-1 0.5 0.5 0.1 0.1", "bad_class"),
        ("1.5 0.5 0.5 0.1 0.1", "bad_class"),
        ("7 0.5 0.5 0.1 0.1", "bad_class"),  # num_classes=7
        ("1 nan 0.5 0.1 0.1", "not_finite"),
    ],
)
def test_convert_line_drops_invalid(line, reason):
    res = convert_line(line, num_classes=7)
    assert res.line is None
    assert res.kind == reason


def test_bad_lines_are_dropped_and_counted():
    text = "\n".join(
        [
            "0 0.5 0.5 0.2 0.2",
            "garbage",
            "1 0.5 0.5 0.1",
            "",  # blank lines are ignored, not counted
            "2 0.1 0.1 0.3 0.1 0.3 0.4",
            "9 0.5 0.5 0.1 0.1",
        ]
    )
    stats = ImportStats()
    lines = convert_label_text(text, stats, num_classes=7)
    assert len(lines) == 2
    assert stats.lines_dropped == 3
    assert stats.drop_reasons == {"not_a_number": 1, "bad_length": 1, "bad_class": 1}
    assert stats.polygons_converted == 1
    assert stats.boxes_per_class == {0: 1, 2: 1}


@needs_shared
def test_real_polygons_become_their_bounding_boxes(tmp_path):
    stems = sorted(p.stem for p in (FIELD_PESTS / "labels" / "train").glob("*.txt"))[::400][:6]
    src = _copy_sample(FIELD_PESTS, "train", stems, tmp_path / "src")
    stats = import_yolo(src, tmp_path / "out", num_classes=15)

    n_polys = 0
    for stem in stems:
        original = [ln for ln in (src / "labels" / "train" / f"{stem}.txt").read_text().splitlines() if ln.strip()]
        converted = (tmp_path / "out" / "labels" / "train" / f"{stem}.txt").read_text().splitlines()
        assert len(converted) == len(original)
        for src_line, out_line in zip(original, converted, strict=True):
            vals = _floats(src_line)
            assert len(vals) > 5, "field-pests-15 labels are polygons"
            n_polys += 1
            xs, ys = vals[1::2], vals[2::2]
            x1, x2 = max(0.0, min(xs)), min(1.0, max(xs))
            y1, y2 = max(0.0, min(ys)), min(1.0, max(ys))
            cls, cx, cy, w, h = _floats(out_line)
            assert cls == vals[0]
            assert (cx, cy, w, h) == pytest.approx(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1), abs=2e-6)
            assert 0 <= cx - w / 2 and cx + w / 2 <= 1 + 1e-6
    assert stats.polygons_converted == n_polys > 0
    assert stats.images == {"train": len(stems)}
    assert stats.lines_dropped == 0


@needs_shared
def test_box_lines_unchanged_and_images_copied_not_linked(tmp_path):
    stems = sorted(p.stem for p in (RICE_PESTS / "labels" / "test").glob("*.txt"))[:5]
    src = _copy_sample(RICE_PESTS, "test", stems, tmp_path / "src")
    out = tmp_path / "out"
    import_yolo(src, out, num_classes=7)
    for stem in stems:
        original = [" ".join(ln.split()) for ln in (src / "labels" / "test" / f"{stem}.txt").read_text().splitlines()]
        original = [ln for ln in original if ln and len(ln.split()) == 5]
        assert (out / "labels" / "test" / f"{stem}.txt").read_text().splitlines() == original
        a, b = src / "images" / "test" / f"{stem}.jpg", out / "images" / "test" / f"{stem}.jpg"
        assert a.read_bytes() == b.read_bytes()
        assert not b.is_symlink() and b.stat().st_nlink == 1 and b.stat().st_ino != a.stat().st_ino
        assert os.access(b, os.W_OK)


@needs_shared
def test_import_from_shared_writes_nothing_there(tmp_path):
    before = _tree_state(RICE_PESTS)
    stats = import_yolo(RICE_PESTS, tmp_path / "rice", splits=("test",), route=train_val_route(), num_classes=7)
    write_data_yaml(tmp_path / "rice", dict(enumerate("abcdefg")), splits=("test",))
    assert stats.images == {"test": 53}
    assert stats.boxes == 83
    assert _tree_state(RICE_PESTS) == before
    assert not list(SHARED.rglob("*.cache"))
    assert len(list((tmp_path / "rice" / "labels" / "test").glob("*.txt"))) == 53


def test_refuses_a_destination_inside_the_source(tmp_path):
    (tmp_path / "images" / "train").mkdir(parents=True)
    with pytest.raises(ValueError):
        import_yolo(tmp_path, tmp_path / "copy")


def test_missing_label_file_means_background(tmp_path):
    (tmp_path / "src" / "images" / "train").mkdir(parents=True)
    (tmp_path / "src" / "images" / "train" / "a.jpg").write_bytes(b"\xff\xd8fake")
    (tmp_path / "src" / "images" / "train" / "notes.txt").write_text("not an image")
    stats = import_yolo(tmp_path / "src", tmp_path / "out")
    assert stats.images == {"train": 1}
    assert stats.images_without_labels == 1
    assert (tmp_path / "out" / "labels" / "train" / "a.txt").read_text() == ""


def test_data_yaml_is_absolute_and_has_no_download(tmp_path):
    path = write_data_yaml(tmp_path, ["planthopper", "rice bug"])
    data = yaml.safe_load(path.read_text())
    assert Path(data["path"]).is_absolute()
    assert data["train"] == "images/train" and data["val"] == "images/val" and data["test"] == "images/test"
    assert "download" not in data
    assert read_names(path) == {0: "planthopper", 1: "rice bug"}


def test_hash_split_is_stable_and_keeps_roboflow_copies_together():
    assert source_key("brown_0246_jpg.rf.7b5b6bf0.jpg") == "brown_0246_jpg"
    assert hash_split("brown_0246_jpg.rf.aaaa.jpg") == hash_split("brown_0246_jpg.rf.bbbb.jpg")
    names = [f"img_{i:04d}.jpg" for i in range(2000)]
    first = [hash_split(n) for n in names]
    assert first == [hash_split(n) for n in names]
    assert 0.12 < first.count("val") / len(names) < 0.18
    route = train_val_route(0.15)
    assert route("test", Path("img_0001.jpg")) == "test"
