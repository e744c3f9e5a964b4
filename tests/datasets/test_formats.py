"""COCO and VOC imports land in dataset versions like YOLO ones, classes merged by name through a mapping."""

from __future__ import annotations

import json
import shutil

from helpers import rice_photos

from cropwatch.core.enums import ModelTask
from datasets.formats import import_coco, import_voc
from datasets.versions import create_version, export_coco, load_manifest

NAMES = {0: "planthopper", 1: "rice bug"}


def test_coco_and_voc_imports_merge_by_name(tmp_path, storage, sessions):
    photos = rice_photos(2)
    for p in photos:
        shutil.copy(p, tmp_path / p.name)
    coco = {
        "images": [{"id": 7, "file_name": photos[0].name, "width": 640, "height": 640}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 3, "bbox": [10, 20, 30, 40], "iscrowd": 0},
            {"id": 2, "image_id": 7, "category_id": 4, "bbox": [50, 50, 5, 5], "iscrowd": 0},
        ],
        "categories": [{"id": 3, "name": "brown planthopper"}, {"id": 4, "name": "dragonfly"}],
    }
    (tmp_path / "ann.json").write_text(json.dumps(coco))
    (tmp_path / "voc").mkdir()
    (tmp_path / "voc" / "a.xml").write_text(
        f"<annotation><filename>{photos[1].name}</filename><object><name>rice bug</name>"
        "<bndbox><xmin>11</xmin><ymin>21</ymin><xmax>41</xmax><ymax>61</ymax></bndbox></object>"
        "<object><name>rice bug</name><difficult>1</difficult>"
        "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>4</xmax><ymax>4</ymax></bndbox></object></annotation>"
    )
    items = import_coco(
        storage, tmp_path / "ann.json", tmp_path, name="c", mapping={"brown planthopper": "planthopper"}
    )
    items += import_voc(storage, tmp_path / "voc", tmp_path, name="v")
    with sessions.begin() as s:
        dv = create_version(s, storage, name="mixed", task=ModelTask.pest, classes=NAMES, items=items)
        assert dv.stats["boxes_per_class"] == {"planthopper": 1, "rice bug": 1}
        assert dv.stats["dropped_unknown_class"] == {"dragonfly": 1}
        boxes = {i["source"]: i["boxes"] for i in load_manifest(storage, dv)["images"]}
        assert boxes["coco:c"] == [[0, 10, 20, 40, 60]] and boxes["voc:v"] == [[1, 10, 20, 41, 61]]
        out = export_coco(storage, dv)
        assert sorted(a["bbox"] for a in out["annotations"]) == [[10, 20, 30, 40], [10, 20, 31, 41]]
