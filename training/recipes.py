"""The recipes of the shipped bootstrap models: data, hyper-parameters, names, attribution."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from datasets.synthetic import RIPENESS_NAMES, RIPENESS_NAMES_VI

RICE_PESTS_NAMES = {
    0: "grasshopper",
    1: "rice bug",
    2: "rice leaf roller",
    3: "rice stem borer",
    4: "caterpillar on leaf",
    5: "rice ear bug",
    6: "planthopper",
}
RICE_PESTS_NAMES_VI = {
    0: "châu chấu",
    1: "bọ xít hại lúa",
    2: "sâu cuốn lá",
    3: "sâu đục thân",
    4: "sâu ăn lá",
    5: "bọ xít dài",
    6: "rầy nâu",
}
RICE_PESTS_NAMES_ORIGINAL = {
    0: "belalang pada tanaman padi",
    1: "rice bug -hama padi-",
    2: "rice leaf roller -penggulung daun padi-",
    3: "rice stem borer -penggerek batang padi-",
    4: "ulat pada daun padi",
    5: "walang sangit pada tanaman padi",
    6: "wereng pada daun padi",
}

# copied from shared/datasets/rice-pests/README.md
RICE_PESTS_ATTRIBUTION = (
    'Source: "Rice Plant Pest Detection" v1, exported from Roboflow Universe (project '
    "rice-plant-pest-detection/rice-plant-pest-detection-5r6r7, "
    "https://universe.roboflow.com/rice-plant-pest-detection/rice-plant-pest-detection-5r6r7) and published in "
    "the public GitHub repository AhmadSubadri/dataset-pest-rice. Provided by a Roboflow user. "
    "License stated by the uploader: CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/). "
    "Images were resized to 640x640 (stretch) by the exporter. Class names translated from Indonesian; "
    "boxes of the few polygon labels were derived by CropWatch's importer."
)

SYNTHETIC_WARNING = (
    "SYNTHETIC DATA: this model was trained and tested only on computer-generated tomato-like scenes "
    "(datasets/synthetic.py). Its test metrics say how well it separates the generator's four colour "
    "classes, NOT how it performs on real fruit photos. Treat its output as a demonstration until it is "
    "retrained and evaluated on labelled photos from the cooperatives."
)

Task = Literal["pest", "ripeness"]


@dataclass(frozen=True)
class Recipe:
    task: Task
    model_name: str  # file stem in models/<task>/
    dataset: str  # written into the ONNX as cropwatch_dataset
    names: dict[int, str]
    names_vi: dict[int, str]
    epochs: int
    imgsz: int
    batch: int = 16
    seed: int = 0
    start: str = "pretrained"  # pretrained | scratch | a model YAML | a .pt path (training.start_weights)
    source: str | None = None  # folder under shared/datasets; None: the synthetic scene generator
    val_fraction: float = 0.15  # share of the source's train split moved to val by filename hash
    test_fraction: float = 0.0  # for a source without a test split: share carved out as test by filename hash
    synthetic_counts: dict[str, int] = field(default_factory=dict)  # ripeness: images per split
    overrides: dict[str, Any] = field(default_factory=dict)
    license: str = ""
    attribution: str = ""
    warnings: tuple[str, ...] = ()
    family: str | None = None  # the registry's model family (models/registry.py)
    crops: tuple[str, ...] = ()  # plot crops it serves (empty: any)
    camera_kinds: tuple[str, ...] = ()  # camera kinds it serves (empty: any)
    detect: dict[str, Any] = field(default_factory=dict)  # conf / iou / max_det for every place it runs
    #: > 0: a model for large photos of small objects (sticky-trap cards), trained on windows of ``tile`` source
    #: pixels (datasets.tiles, overlap ``tile_overlap``) at ``imgsz == tile`` and read tiled; its count error on
    #: whole cards is measured (training.count_eval) and the count's confidence chosen on the validation cards
    tile: int = 0
    tile_overlap: float = 0.1


PEST = Recipe(
    task="pest",
    model_name="pest-rice-yolo11n",
    family="pest-rice",
    crops=("lúa",),
    dataset="rice-pests-v1",
    names=RICE_PESTS_NAMES,
    names_vi=RICE_PESTS_NAMES_VI,
    # fine-tuned from the COCO-pretrained checkpoint (shared/weights/yolo11n-coco.pt) at 480 px on 2 CPU cores
    epochs=35,
    imgsz=480,
    start="pretrained",
    source="rice-pests",
    license="CC BY 4.0",
    attribution=RICE_PESTS_ATTRIBUTION,
    warnings=(
        "Fine-tuned for 35 epochs at 480 px on a 2-core CPU (no GPU): below the uploader's COCO-pretrained YOLOv8n "
        "reference at 640 px (mAP50 0.87). The test split has only 53 images and 83 objects, 45% of them "
        "planthoppers; per-class figures for rare classes rest on 3-12 objects.",
    ),
)

FIELD_PESTS_NAMES = {
    0: "cabbage webworm",
    1: "leaf webber",
    2: "ash weevil",
    3: "blister beetle",
    4: "fruit fly",
    5: "fruit sucking moth",
    6: "helicoverpa",
    7: "brinjal fruit borer",
    8: "mealy bug",
    9: "cabbage white",
    10: "diamondback moth",
    11: "root grubs",
    12: "greenbug aphid",
    13: "aphid",
    14: "whitefly",
}
FIELD_PESTS_NAMES_VI = {
    0: "sâu đục nõn cải",
    1: "sâu cuốn lá",
    2: "vòi voi xám",
    3: "ban miêu",
    4: "ruồi đục quả",
    5: "ngài chích hút quả",
    6: "sâu đục quả (Helicoverpa)",
    7: "sâu đục quả cà tím",
    8: "rệp sáp",
    9: "sâu xanh bướm trắng",
    10: "sâu tơ",
    11: "sùng đất",
    12: "rệp lúa mì",
    13: "rệp muội",
    14: "bọ phấn trắng",
}
# copied from shared/datasets/field-pests-15/README.md
FIELD_PESTS_ATTRIBUTION = (
    "Source: Roboflow Universe project deepaks-workspace/pest-vision-major-vunmb, version 5, published in the "
    "public GitHub repository omkar614/Pest_Detection_yolov8. License stated in its data.yaml: CC BY 4.0 "
    "(https://creativecommons.org/licenses/by/4.0/). Images look collected from the web (roughly 150-500 px). "
    "Labels are segmentation polygons; their bounding boxes were derived by CropWatch's importer. Class names "
    "shortened (Hellula undalis → cabbage webworm, leucinodes → brinjal fruit borer, pieris → cabbage white, "
    "plutella → diamondback moth, schizaphis graminum → greenbug aphid, uroleucon compositae → aphid)."
)

PEST_FIELD = Recipe(
    task="pest",
    model_name="pest-field-yolo11n",
    family="pest-field",
    crops=(),  # generic: serves every plot whose crop has no model of its own (rice has pest-rice)
    dataset="field-pests-15-v5",
    names=FIELD_PESTS_NAMES,
    names_vi=FIELD_PESTS_NAMES_VI,
    # the source's images are 150-500 px (median longest side 275 px): 320 px keeps every pixel of most of them
    epochs=20,
    imgsz=320,
    start="pretrained",
    source="field-pests-15",
    test_fraction=0.15,  # the shared copy has no test split: 15% carved by sha256 of the file name
    license="CC BY 4.0",
    attribution=FIELD_PESTS_ATTRIBUTION,
    warnings=(
        "Web photos of single pests, mostly close-ups, not garden-camera frames: expect lower recall on wide "
        "shots of a whole plant. Fine-tuned on a 2-core CPU (no GPU).",
    ),
)


STICKY_TRAP_NAMES = {0: "fly", 1: "other insect"}
STICKY_TRAP_NAMES_VI = {0: "ruồi", 1: "côn trùng nhỏ khác"}
# copied from shared/datasets/sticky-trap-aiinsect/README.md
STICKY_TRAP_ATTRIBUTION = (
    "AI-Insect dataset by Roboflow user aiinsect (https://universe.roboflow.com/aiinsect/ai-insect), via "
    "github.com/Pratchaya2/AI-INSECT-COUNT, CC BY 4.0. Split into train/test (and one image rotated to its EXIF "
    'orientation) by this project. Class 1 ("test" in the source) renamed "other insect".'
)

PEST_TRAP = Recipe(
    task="pest",
    model_name="pest-trap-yolo11n",
    family="pest-trap",
    camera_kinds=("sticky_trap",),  # every sticky-trap camera, whatever the plot's crop
    dataset="sticky-trap-aiinsect-v1",
    names=STICKY_TRAP_NAMES,
    names_vi=STICKY_TRAP_NAMES_VI,
    # insects of ~10 px on 1,500 px cards: windows of 640 source pixels, trained and read at their real size
    epochs=25,
    imgsz=640,
    batch=8,
    tile=640,
    start="pretrained",
    source="sticky-trap-aiinsect",
    # mosaic's default scale jitter (±50%) shrinks 10 px insects to 5 px: keep scale changes small
    overrides={"scale": 0.2, "degrees": 0.0, "flipud": 0.5},
    # a card holds up to ~1,000 insects: the count must not be capped at Ultralytics' 300
    detect={"max_det": 3000},
    license="CC BY 4.0",
    attribution=STICKY_TRAP_ATTRIBUTION,
    warnings=(
        "White glue boards from insect light traps in a factory (small flies, midges, gnats), not the yellow or "
        "blue cards of a rice field or greenhouse and not crop pests: it counts insects on a card; which pest they "
        "are needs a model trained on the cooperative's own trap photos. 53 training cards, 17 test cards.",
    ),
)


SYNTHETIC_RIPENESS = Recipe(
    task="ripeness",
    model_name="ripeness-synthetic-yolo11n",
    dataset="synthetic-ripeness-v1",
    names=RIPENESS_NAMES,
    names_vi=RIPENESS_NAMES_VI,
    epochs=40,
    imgsz=256,
    synthetic_counts={"train": 320, "val": 64, "test": 64},
    # colour is the class: keep hue/saturation/value augmentation mild
    overrides={"hsv_h": 0.005, "hsv_s": 0.3, "hsv_v": 0.25},
    license="Generated by CropWatch (AGPL-3.0-only project); no third-party data.",
    attribution="Synthetic scenes from datasets/synthetic.py (CropWatch), seed 0.",
    warnings=(SYNTHETIC_WARNING,),
    start="scratch",
)

TOMATO_NAMES = {0: "unripe", 1: "turning", 2: "ripe"}
TOMATO_NAMES_VI = {0: "quả xanh", 1: "quả chuyển màu", 2: "quả chín"}
TOMATO_LICENSE = "CC BY-NC-SA 4.0 (non-commercial, share-alike)"
TOMATO_ATTRIBUTION = "Laboro Tomato dataset © Laboro.AI Inc., CC BY-NC-SA 4.0, https://github.com/laboroai/LaboroTomato"
TOMATO_WARNING = (
    "NON-COMMERCIAL LICENCE: trained on the Laboro Tomato dataset (© Laboro.AI Inc., CC BY-NC-SA 4.0). This model "
    "is an adaptation of that data and carries the same terms: research, teaching, tests and demonstrations only, "
    "with attribution. For commercial use, ask Laboro.AI Inc. or replace it with a model trained on the "
    "cooperative's own reviewed photos (ML page → Datasets → freeze → Training runs → promote)."
)

RIPENESS = Recipe(
    task="ripeness",
    model_name="ripeness-tomato-yolo11n",
    family="ripeness-tomato",
    crops=("cà chua",),
    dataset="laboro-tomato-big-v2",
    names=TOMATO_NAMES,
    names_vi=TOMATO_NAMES_VI,
    epochs=40,
    imgsz=416,
    source="tomato-ripeness-laboro",
    license=TOMATO_LICENSE,
    attribution=TOMATO_ATTRIBUTION,
    warnings=(
        TOMATO_WARNING,
        "The source photos were stretched from 3:4 to 640×640 by the re-uploader: fruit look about 1.33× "
        "wider or taller than they are.",
    ),
)

#: the recipes of the models shipped in models/<task>/ (the synthetic ripeness recipe is kept for tests and demos)
RECIPES: dict[str, Recipe] = {"pest": PEST, "pest-field": PEST_FIELD, "pest-trap": PEST_TRAP, "ripeness": RIPENESS}
