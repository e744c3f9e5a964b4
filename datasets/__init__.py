"""Datasets: YOLO import (polygons → boxes), stable splits, the synthetic scene generator."""

from datasets.splits import hash_split, train_val_route
from datasets.synthetic import RIPENESS_NAMES, RIPENESS_NAMES_VI, generate_ripeness_dataset, render_sticky_trap
from datasets.yolo import ImportStats, import_yolo, read_names, write_data_yaml

__all__ = [
    "RIPENESS_NAMES",
    "RIPENESS_NAMES_VI",
    "ImportStats",
    "generate_ripeness_dataset",
    "hash_split",
    "import_yolo",
    "read_names",
    "render_sticky_trap",
    "train_val_route",
    "write_data_yaml",
]
