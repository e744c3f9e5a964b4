"""Import Ultralytics with every network path closed.

:func:`training.ultralytics_env.configure_ultralytics` sets the environment (read at import). Two more
doors stay open after that and are shut here:

* settings ``sync`` (anonymous analytics) — switched off, and the runs/datasets/weights dirs are
  moved into the data dir so nothing lands in the current directory;
* ``check_font`` — called by ``check_det_dataset`` on every train/val, plots or not; without a local
  ``Arial.ttf`` it asks GitHub for one. DejaVu Sans (free license, shipped inside matplotlib, covers
  Vietnamese) is copied into Ultralytics' config dir under the names it looks for.
"""

from __future__ import annotations

import os
import shutil
import sys
import warnings
from pathlib import Path
from types import ModuleType

from training.ultralytics_env import configure_ultralytics

FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")


def _install_font(config_dir: Path) -> None:
    import matplotlib

    src = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    for name in FONT_NAMES:
        dst = config_dir / name
        if not dst.exists() and src.is_file():
            shutil.copyfile(src, dst)


def load_ultralytics(data_dir: Path, threads: int = 2) -> ModuleType:
    """Configure, then import and return ``ultralytics``; torch trains and validates with ``threads`` threads.

    The first call in a process decides the config dir (Ultralytics reads it at import); later calls
    only re-apply the thread count.
    """
    data_dir = Path(data_dir).resolve()
    first = "ultralytics" not in sys.modules
    if first:
        configure_ultralytics(data_dir)
        os.environ.setdefault("MPLCONFIGDIR", str(data_dir / "matplotlib"))  # check_font imports matplotlib
    elif os.environ.get("YOLO_OFFLINE") != "true":
        warnings.warn("ultralytics was imported before configure_ultralytics(); it may try the network", stacklevel=2)
    import torch
    import ultralytics
    from ultralytics.utils import USER_CONFIG_DIR, torch_utils

    _install_font(Path(USER_CONFIG_DIR))
    if first or ultralytics.settings.get("sync", True):
        ultralytics.settings.update(
            {
                "sync": False,
                "runs_dir": str(data_dir / "runs"),
                "datasets_dir": str(data_dir / "datasets"),
                "weights_dir": str(data_dir / "weights"),
            }
        )
    # select_device() resets torch to min(8, cpu_count - 1) threads on every train/val call
    torch_utils.NUM_THREADS = threads
    torch.set_num_threads(threads)
    return ultralytics
