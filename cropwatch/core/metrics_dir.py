"""Where prometheus_client's multiprocess files go: ``<data dir>/metrics/<role>-<pid>``, one folder per
``cropwatch api`` or ``cropwatch worker`` command (its uvicorn workers or Celery pool processes write their own files
inside it). Kept apart from :mod:`cropwatch.core.metrics` because the variable must be set before prometheus_client is
imported by anything: this module imports nothing that does.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


def metrics_root(data_dir: Path) -> Path:
    return Path(data_dir) / "metrics"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def enable_multiprocess(data_dir: Path, role: str) -> Path:
    """Set ``PROMETHEUS_MULTIPROC_DIR`` to a new folder for this command and remove the folders of commands that are
    gone (their counts would otherwise add to the next scrape forever). A folder already set is kept."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    root = metrics_root(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    for old in root.iterdir():
        pid = old.name.rsplit("-", 1)[-1]
        if old.is_dir() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    folder = root / f"{role}-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    os.environ[ENV] = str(folder)
    return folder
