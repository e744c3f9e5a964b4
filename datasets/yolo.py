"""Import a YOLO-layout dataset (``images/<split>/*``, ``labels/<split>/*.txt``) into a work folder.

Polygon lines (``cls x1 y1 x2 y2 ...``) become their bounding box (``cls cx cy w h``): Ultralytics
silently drops polygons from a detection label file that also holds boxes. Boxes are clamped to
[0, 1]; lines that cannot be read or that collapse to nothing are dropped and counted. Images are
copied (never linked), so nothing the training run writes can reach the source folder.
"""

from __future__ import annotations

import math
import shutil
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
MIN_SIZE = 1e-4  # a box narrower or lower than this (normalised) is degenerate

# route(source_split, image_path) -> destination split, or None to skip the image
Route = Callable[[str, Path], str | None]


@dataclass
class ImportStats:
    images: Counter = field(default_factory=Counter)  # per destination split
    boxes_per_class: Counter = field(default_factory=Counter)
    polygons_converted: int = 0
    boxes_clamped: int = 0
    lines_dropped: int = 0
    drop_reasons: Counter = field(default_factory=Counter)
    images_without_labels: int = 0

    @property
    def boxes(self) -> int:
        return sum(self.boxes_per_class.values())

    def as_dict(self) -> dict:
        return {
            "images": dict(self.images),
            "boxes": self.boxes,
            "boxes_per_class": {int(k): v for k, v in sorted(self.boxes_per_class.items())},
            "polygons_converted": self.polygons_converted,
            "boxes_clamped": self.boxes_clamped,
            "lines_dropped": self.lines_dropped,
            "drop_reasons": dict(self.drop_reasons),
            "images_without_labels": self.images_without_labels,
        }


@dataclass(frozen=True)
class LineResult:
    line: str | None  # the box line to write, or None when dropped
    kind: str  # "box", "polygon", "clamped" or the reason it was dropped


def _fmt(cls: int, cx: float, cy: float, w: float, h: float) -> str:
    return f"{cls} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}"


def _clamp01(v: float) -> float:
    return min(1.0, max(0.0, v))


def convert_line(line: str, num_classes: int | None = None) -> LineResult:
    """Turn one label line into a detection box line (or say why it is dropped)."""
    parts = line.split()
    if not parts:
        return LineResult(None, "empty")
    try:
        cls_f = float(parts[0])
        coords = [float(p) for p in parts[1:]]
    except ValueError:
        return LineResult(None, "not_a_number")
    if not cls_f.is_integer() or cls_f < 0 or (num_classes is not None and cls_f >= num_classes):
        return LineResult(None, "bad_class")
    cls = int(cls_f)
    if not all(math.isfinite(c) for c in coords):
        return LineResult(None, "not_finite")

    if len(coords) == 4:
        cx, cy, w, h = coords
        if w <= 0 or h <= 0:
            return LineResult(None, "degenerate")
        x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
        if min(x1, y1) >= 0 and max(x2, y2) <= 1:
            return LineResult(" ".join([str(cls), *parts[1:]]), "box")  # valid box: kept as written
        kind = "clamped"
    elif len(coords) >= 6 and len(coords) % 2 == 0:
        xs, ys = coords[0::2], coords[1::2]
        x1, y1, x2, y2 = min(xs), min(ys), max(xs), max(ys)
        kind = "polygon"
    else:
        return LineResult(None, "bad_length")

    x1, y1, x2, y2 = _clamp01(x1), _clamp01(y1), _clamp01(x2), _clamp01(y2)
    if x2 - x1 < MIN_SIZE or y2 - y1 < MIN_SIZE:
        return LineResult(None, "degenerate")
    return LineResult(_fmt(cls, (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1), kind)


def convert_label_text(text: str, stats: ImportStats, num_classes: int | None = None) -> list[str]:
    """Convert the lines of one label file, recording counts in ``stats``."""
    out: list[str] = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        res = convert_line(raw, num_classes)
        if res.line is None:
            stats.lines_dropped += 1
            stats.drop_reasons[res.kind] += 1
            continue
        if res.kind == "polygon":
            stats.polygons_converted += 1
        elif res.kind == "clamped":
            stats.boxes_clamped += 1
        stats.boxes_per_class[int(res.line.split(maxsplit=1)[0])] += 1
        out.append(res.line)
    return out


def _identity_route(split: str, _image: Path) -> str:
    return split


def import_yolo(
    src: Path,
    dest: Path,
    *,
    splits: Sequence[str] | None = None,
    route: Route | None = None,
    num_classes: int | None = None,
) -> ImportStats:
    """Copy ``src`` (YOLO layout) into ``dest``, converting labels; ``route`` renames/splits the source splits.

    Image files are copied with :func:`shutil.copyfile` (fresh, writable files; never links).
    A missing label file is an image with no objects: an empty label file is written for it.
    """
    src, dest = Path(src), Path(dest)
    if dest.resolve() == src.resolve() or src.resolve() in dest.resolve().parents:
        raise ValueError("destination must lie outside the source dataset")
    route = route or _identity_route
    if splits is None:
        splits = sorted(p.name for p in (src / "images").iterdir() if p.is_dir())
    stats = ImportStats()
    for split in splits:
        for image in sorted((src / "images" / split).iterdir()):
            if image.suffix.lower() not in IMAGE_SUFFIXES or not image.is_file():
                continue
            target = route(split, image)
            if target is None:
                continue
            label = src / "labels" / split / f"{image.stem}.txt"
            text = label.read_text(encoding="utf-8") if label.is_file() else ""
            lines = convert_label_text(text, stats, num_classes)
            if not lines:
                stats.images_without_labels += 1
            (dest / "images" / target).mkdir(parents=True, exist_ok=True)
            (dest / "labels" / target).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(image, dest / "images" / target / image.name)
            body = "\n".join(lines) + ("\n" if lines else "")
            (dest / "labels" / target / f"{image.stem}.txt").write_text(body, encoding="utf-8")
            stats.images[target] += 1
    return stats


def write_data_yaml(
    dest: Path, names: Mapping[int, str] | Sequence[str], splits: Sequence[str] = ("train", "val", "test")
) -> Path:
    """Write ``dest/data.yaml`` for Ultralytics: absolute ``path``, one entry per split, ``names``; no ``download``."""
    dest = Path(dest).resolve()
    names_map = dict(names) if isinstance(names, Mapping) else dict(enumerate(names))
    data: dict = {"path": str(dest)}
    for split in splits:
        data[split] = f"images/{split}"
    data["names"] = {int(k): str(v) for k, v in sorted(names_map.items())}
    out = dest / "data.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return out


def read_names(data_yaml: Path) -> dict[int, str]:
    """Class names of a data.yaml as ``{id: name}``."""
    names = yaml.safe_load(Path(data_yaml).read_text(encoding="utf-8"))["names"]
    return {int(k): str(v) for k, v in (names.items() if isinstance(names, dict) else enumerate(names))}
