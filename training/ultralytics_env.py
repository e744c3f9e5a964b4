"""Make Ultralytics run with no network: call :func:`configure_ultralytics` before importing it."""

from __future__ import annotations

import os
from pathlib import Path


def configure_ultralytics(data_dir: Path) -> Path:
    """Point Ultralytics' settings/config dir inside ``data_dir`` and switch off every download.

    Returns the config dir. Must run before ``import ultralytics`` (the variables are read at import).
    """
    cfg = Path(data_dir) / "ultralytics"
    cfg.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_CONFIG_DIR"] = str(cfg)
    os.environ["YOLO_OFFLINE"] = "true"
    os.environ["YOLO_AUTOINSTALL"] = "false"
    os.environ.setdefault("YOLO_VERBOSE", "false")
    return cfg
