"""COCO JSON and Pascal VOC XML imports, into the same items as YOLO imports (boxes with class *names*).

Class maps are merged by name: a source's class is kept under its own name, or renamed through ``mapping``
(``{"source name": "dataset name"}``, e.g. read from a JSON mapping file); a name the dataset version does not know
is dropped and counted there (``datasets.versions.create_version``).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path

from cropwatch.core.storage import Storage
from datasets.versions import Item, store_image


def import_coco(
    storage: Storage,
    annotations: Path,
    images_dir: Path,
    *,
    name: str,
    mapping: Mapping[str, str] | None = None,
    cooperative_id: int | None = None,
) -> list[Item]:
    """A COCO detection file (``images``, ``annotations`` with ``bbox`` = x, y, w, h, ``categories``)."""
    coco = json.loads(Path(annotations).read_text(encoding="utf-8"))
    cats = {c["id"]: (mapping or {}).get(c["name"], c["name"]) for c in coco.get("categories", [])}
    boxes: dict[int, list] = {}
    for a in coco.get("annotations", []):
        if a.get("iscrowd"):
            continue
        x, y, w, h = a["bbox"]
        if w > 0 and h > 0 and a["category_id"] in cats:
            boxes.setdefault(a["image_id"], []).append([cats[a["category_id"]], x, y, x + w, y + h])
    items = []
    for im in coco.get("images", []):
        path = Path(images_dir) / im["file_name"]
        stored = store_image(storage, path, name=name, cooperative_id=cooperative_id) if path.is_file() else None
        if stored is not None:
            key, sha, w, h = stored
            items.append(
                Item(key=key, sha256=sha, width=w, height=h, boxes=boxes.get(im["id"], []), source=f"coco:{name}")
            )
    return items


def import_voc(
    storage: Storage,
    annotations_dir: Path,
    images_dir: Path,
    *,
    name: str,
    mapping: Mapping[str, str] | None = None,
    cooperative_id: int | None = None,
) -> list[Item]:
    """Pascal VOC: one XML per image (``filename``, ``object/name``, ``object/bndbox`` xmin..ymax, 1-based)."""
    items = []
    for xml_path in sorted(Path(annotations_dir).glob("*.xml")):
        root = ET.parse(xml_path).getroot()
        path = Path(images_dir) / (root.findtext("filename") or f"{xml_path.stem}.jpg")
        stored = store_image(storage, path, name=name, cooperative_id=cooperative_id) if path.is_file() else None
        if stored is None:
            continue
        key, sha, w, h = stored
        boxes = []
        for obj in root.iter("object"):
            bb = obj.find("bndbox")
            if bb is None or obj.findtext("difficult") == "1":
                continue
            x1, y1, x2, y2 = (float(bb.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
            label = (obj.findtext("name") or "").strip()
            if x2 > x1 and y2 > y1:
                boxes.append([(mapping or {}).get(label, label), x1 - 1, y1 - 1, x2, y2])
        items.append(Item(key=key, sha256=sha, width=w, height=h, boxes=boxes, source=f"voc:{name}"))
    return items
