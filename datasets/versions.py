"""Immutable, versioned datasets: a manifest in object storage naming every image (S3 key + sha256), its split and
its boxes, built from human-verified captures and imported sets.

- Splits come from a stable hash of the image's sha256 (``datasets.splits``), so an image never moves between train,
  val and test from one version to the next, and the same photo imported twice lands in one split.
- Class maps are explicit: a version stores ``{id: name}``; sources are mapped **by name** (a name the version does
  not know is dropped and counted in the stats).
- What counts as verified: in a capture an agronomist reviewed, every detection not rejected (the reviewer saw the
  whole image; confirmed, relabelled, adjusted and human-drawn boxes included); a reviewed capture with no boxes left
  ("no pest present") is a negative example. Unreviewed captures are never used.
- ``materialize`` writes a version as a YOLO folder (images fetched from S3 and checked against their sha256) for
  training; ``export_coco`` writes COCO JSON.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cropwatch.core.enums import ModelTask, ReviewState
from cropwatch.core.orm import Capture, DatasetVersion, Detection, GoldenImage, Plot
from cropwatch.core.storage import Storage
from datasets.splits import hash_fraction
from datasets.yolo import IMAGE_SUFFIXES, ImportStats, convert_label_text, write_data_yaml

SPLIT_FRACTIONS = (("test", 0.15), ("val", 0.15))  # the rest is train


class DatasetError(ValueError):
    pass


@dataclass
class Item:
    key: str
    sha256: str
    width: int
    height: int
    boxes: list[list[float]]  # [class_id, x1, y1, x2, y2] in pixels
    source: str
    split: str = ""


@dataclass
class BuildStats:
    images: Counter = field(default_factory=Counter)
    boxes_per_class: Counter = field(default_factory=Counter)
    negatives: int = 0
    golden_excluded: int = 0
    dropped_unknown_class: Counter = field(default_factory=Counter)
    box_area_share: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "images": dict(self.images),
            "boxes_per_class": dict(self.boxes_per_class),
            "negatives": self.negatives,
            "golden_excluded": self.golden_excluded,
            "dropped_unknown_class": dict(self.dropped_unknown_class),
            "box_area_share": self.box_area_share,
        }


def stable_split(sha256: str) -> str:
    f = hash_fraction(sha256, salt="cropwatch-split")
    edge = 0.0
    for name, share in SPLIT_FRACTIONS:
        edge += share
        if f < edge:
            return name
    return "train"


def _prefix(cooperative_id: int | None) -> str:
    return f"datasets/{cooperative_id if cooperative_id is not None else 'shared'}"


# -- sources --------------------------------------------------------------------------------------------------------


def store_image(
    storage: Storage, path: Path, *, name: str, cooperative_id: int | None = None
) -> tuple[str, str, int, int] | None:
    """Upload an imported image under ``<prefix>/imports/<name>/<sha256><ext>`` (once); (key, sha256, width,
    height), or None when it does not decode."""
    data = Path(path).read_bytes()
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        return None
    sha = hashlib.sha256(data).hexdigest()
    suffix = Path(path).suffix.lower()
    key = f"{_prefix(cooperative_id)}/imports/{name}/{sha}{suffix}"
    if storage.stat(key) is None:
        storage.put_bytes(key, data, "image/png" if suffix == ".png" else "image/jpeg")
    return key, sha, img.shape[1], img.shape[0]


def import_yolo_folder(
    storage: Storage,
    src: Path,
    *,
    name: str,
    names: Mapping[int, str],
    cooperative_id: int | None = None,
    splits: Iterable[str] | None = None,
    limit: int | None = None,
    keep: Callable[[Path], bool] | None = None,
) -> tuple[list[Item], ImportStats]:
    """Upload a YOLO-layout folder's images (boxes and polygon lines) to object storage; returns its items with
    class names resolved through ``names`` (the folder's own class map). ``keep``: only the images it accepts
    (e.g. the share of a split-less source carved out as a test split)."""
    src = Path(src)
    stats = ImportStats()
    items: list[Item] = []
    for split in splits or sorted(p.name for p in (src / "images").iterdir() if p.is_dir()):
        for image in sorted((src / "images" / split).iterdir()):
            if image.suffix.lower() not in IMAGE_SUFFIXES or (limit and len(items) >= limit):
                continue
            if keep is not None and not keep(image):
                continue
            stored = store_image(storage, image, name=name, cooperative_id=cooperative_id)
            if stored is None:
                stats.drop_reasons["unreadable image"] += 1
                continue
            key, sha, w, h = stored
            label = src / "labels" / split / f"{image.stem}.txt"
            lines = convert_label_text(label.read_text(encoding="utf-8") if label.is_file() else "", stats)
            boxes = []
            for line in lines:
                c, cx, cy, bw, bh = line.split()
                cx, cy, bw, bh = (float(v) for v in (cx, cy, bw, bh))
                boxes.append(
                    [names[int(c)], (cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h]
                )
            items.append(Item(key=key, sha256=sha, width=w, height=h, boxes=boxes, source=f"import:{name}"))
            stats.images[split] += 1
    return items, stats


def verified_captures(
    session: Session,
    *,
    cooperative_id: int,
    plot_ids: list[int] | None = None,
    crop: str | None = None,
    since=None,
    until=None,
) -> list[Item]:
    """Human-verified captures of a cooperative as items (boxes carry class *names*)."""
    q = select(Capture).where(Capture.cooperative_id == cooperative_id, Capture.reviewed_at.is_not(None))
    if plot_ids:
        q = q.where(Capture.plot_id.in_(plot_ids))
    if crop:
        q = q.join(Plot, Plot.id == Capture.plot_id).where(Plot.crop == crop)
    if since is not None:
        q = q.where(Capture.captured_at >= since)
    if until is not None:
        q = q.where(Capture.captured_at < until)
    items = []
    for cap in session.scalars(q.order_by(Capture.id)):
        dets = session.scalars(
            select(Detection).where(Detection.capture_id == cap.id, Detection.review_state != ReviewState.rejected)
        ).all()
        items.append(
            Item(
                key=cap.object_key,
                sha256=cap.sha256,
                width=cap.width or 0,
                height=cap.height or 0,
                boxes=[[d.class_name, d.x1, d.y1, d.x2, d.y2] for d in dets],
                source=f"capture:{cap.id}",
            )
        )
    return items


# -- versions -------------------------------------------------------------------------------------------------------


def create_version(
    session: Session,
    storage: Storage,
    *,
    name: str,
    task: ModelTask,
    classes: Mapping[int, str],
    items: Iterable[Item],
    cooperative_id: int | None = None,
    filters: dict | None = None,
    created_by: int | None = None,
    only_classes: Iterable[str] | None = None,
) -> DatasetVersion:
    """Freeze ``items`` (boxes with class names) into the next version of dataset ``name``. Images of the task's
    golden set are never frozen (datasets/golden.py); they are counted as ``golden_excluded``."""
    by_name = {v: int(k) for k, v in classes.items()}
    keep = set(only_classes) if only_classes else None
    stats = BuildStats()
    golden = set(session.scalars(select(GoldenImage.sha256).where(GoldenImage.task == task)))
    seen: set[str] = set(golden)
    frozen: list[Item] = []
    areas = Counter()
    for it in items:
        if it.sha256 in golden:
            stats.golden_excluded += 1
            continue
        if it.sha256 in seen:
            continue  # the same photo from two sources: once
        seen.add(it.sha256)
        boxes = []
        for name_, x1, y1, x2, y2 in it.boxes:
            if keep is not None and name_ not in keep:
                continue
            if name_ not in by_name:
                stats.dropped_unknown_class[name_] += 1
                continue
            boxes.append([by_name[name_], round(x1, 2), round(y1, 2), round(x2, 2), round(y2, 2)])
            stats.boxes_per_class[name_] += 1
            share = (x2 - x1) * (y2 - y1) / max(1, it.width * it.height)
            areas["small (<1%)" if share < 0.01 else "medium (<10%)" if share < 0.1 else "large"] += 1
        split = stable_split(it.sha256)
        frozen.append(Item(it.key, it.sha256, it.width, it.height, boxes, it.source, split))
        stats.images[split] += 1
        stats.negatives += not boxes
    if not frozen:
        raise DatasetError("no images: nothing verified or imported matches the filters")
    stats.box_area_share = dict(areas)
    version = (
        session.scalar(
            select(func.max(DatasetVersion.version)).where(
                DatasetVersion.name == name,
                DatasetVersion.cooperative_id.is_(None)
                if cooperative_id is None
                else DatasetVersion.cooperative_id == cooperative_id,
            )
        )
        or 0
    ) + 1
    base = f"{_prefix(cooperative_id)}/{name}/v{version}"
    manifest = {
        "name": name,
        "version": version,
        "task": task.value,
        "classes": {str(k): v for k, v in sorted(classes.items())},
        "filters": filters or {},
        "split_rule": "sha256 hash: 15% test, 15% val, 70% train",
        "images": [asdict(i) for i in sorted(frozen, key=lambda i: i.sha256)],
    }
    body = json.dumps(manifest, ensure_ascii=False, sort_keys=True).encode()
    storage.put_bytes(f"{base}/manifest.json", body, "application/json")
    preview_key = f"{base}/preview.jpg"
    storage.put_bytes(preview_key, mosaic(storage, frozen[:9], classes), "image/jpeg")
    dv = DatasetVersion(
        cooperative_id=cooperative_id,
        name=name,
        version=version,
        task=task,
        manifest_key=f"{base}/manifest.json",
        manifest_sha256=hashlib.sha256(body).hexdigest(),
        classes={str(k): v for k, v in classes.items()},
        stats=stats.as_dict(),
        filters=filters,
        preview_key=preview_key,
        created_by=created_by,
    )
    session.add(dv)
    session.flush()
    return dv


def load_manifest(storage: Storage, dv: DatasetVersion) -> dict[str, Any]:
    body = storage.get_bytes(dv.manifest_key)
    if hashlib.sha256(body).hexdigest() != dv.manifest_sha256:
        raise DatasetError(f"manifest of {dv.name} v{dv.version} was changed after it was frozen")
    return json.loads(body)


def mosaic(storage: Storage, items: list[Item], classes: Mapping[int, str], tile: int = 160) -> bytes:
    """A 3×3 preview of the first images with their boxes drawn."""
    canvas = np.full((tile * 3, tile * 3, 3), 40, np.uint8)
    for n, it in enumerate(items[:9]):
        img = cv2.imdecode(np.frombuffer(storage.get_bytes(it.key), np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            continue
        h, w = img.shape[:2]
        s = tile / max(h, w)
        small = cv2.resize(img, (max(1, int(w * s)), max(1, int(h * s))), interpolation=cv2.INTER_AREA)
        for _, x1, y1, x2, y2 in it.boxes:
            cv2.rectangle(small, (int(x1 * s), int(y1 * s)), (int(x2 * s), int(y2 * s)), (0, 255, 255), 1)
        y, x = (n // 3) * tile, (n % 3) * tile
        canvas[y : y + small.shape[0], x : x + small.shape[1]] = small
    ok, buf = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return buf.tobytes()


def materialize(storage: Storage, dv: DatasetVersion, dest: Path) -> Path:
    """Write the version as a YOLO folder (``dest/images/<split>``, ``dest/labels/<split>``, ``data.yaml``)."""
    manifest = load_manifest(storage, dv)
    dest = Path(dest)
    for it in manifest["images"]:
        data = storage.get_bytes(it["key"])
        if hashlib.sha256(data).hexdigest() != it["sha256"]:
            raise DatasetError(f"{it['key']} does not match its sha256 in the manifest")
        ext = Path(it["key"]).suffix or ".jpg"
        for sub in ("images", "labels"):
            (dest / sub / it["split"]).mkdir(parents=True, exist_ok=True)
        (dest / "images" / it["split"] / f"{it['sha256']}{ext}").write_bytes(data)
        w, h = it["width"], it["height"]
        lines = [
            f"{c} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}"
            for c, x1, y1, x2, y2 in it["boxes"]
        ]
        (dest / "labels" / it["split"] / f"{it['sha256']}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
    filled = {
        split
        for split in ("train", "val", "test")
        if (dest / "images" / split).is_dir() and any((dest / "images" / split).iterdir())
    }
    if "train" not in filled:
        raise DatasetError(f"{dv.name} v{dv.version} has no training images")
    # a small version may leave val or test empty; Ultralytics refuses an empty split, so point it at another one
    fallback = {"val": ("val", "test", "train"), "test": ("test", "val", "train"), "train": ("train",)}
    out = write_data_yaml(dest, {int(k): v for k, v in manifest["classes"].items()})
    data = yaml.safe_load(out.read_text(encoding="utf-8"))
    for split, order in fallback.items():
        data[split] = f"images/{next(o for o in order if o in filled)}"
    out.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return out


def export_coco(storage: Storage, dv: DatasetVersion, split: str | None = None) -> dict[str, Any]:
    """The version (or one split) as a COCO detection dict (file names are the S3 keys)."""
    manifest = load_manifest(storage, dv)
    coco = {
        "images": [],
        "annotations": [],
        "categories": [{"id": int(k), "name": v} for k, v in manifest["classes"].items()],
    }
    for i, it in enumerate(m for m in manifest["images"] if split is None or m["split"] == split):
        coco["images"].append({"id": i, "file_name": it["key"], "width": it["width"], "height": it["height"]})
        for c, x1, y1, x2, y2 in it["boxes"]:
            coco["annotations"].append(
                {
                    "id": len(coco["annotations"]),
                    "image_id": i,
                    "category_id": int(c),
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }
            )
    return coco
