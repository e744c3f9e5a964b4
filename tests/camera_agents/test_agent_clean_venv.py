"""Issue 15: the field agent installs as its README says. A fresh virtual environment gets only
``camera_agents/requirements.txt`` and the agent plus the vision library (``camera_agents/``, ``inference/``),
nothing else of the project; in it the shipped INT8 model loads through the same checks as on a Pi and detects
pests in a real photo. A missing requirement (it once lacked ``onnx``) fails here instead of silently on a Pi."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
MODEL = PROJECT / "models" / "pest" / "pest-rice-yolo11n.int8.onnx"
PHOTOS = PROJECT.parent / "shared" / "datasets" / "rice-pests" / "images" / "test"

SCRIPT = r"""
import importlib.util, json, sys
from pathlib import Path
import cv2
from camera_agents.edge_detector import EdgeDetector
det = EdgeDetector(Path(sys.argv[1]), conf=0.25)
det.load(Path(sys.argv[2]))
found = det.detect(cv2.imread(sys.argv[3])).detections
print(json.dumps({"n": len(found), "sha": det.sha256,
                  "absent": [m for m in ("sqlalchemy", "torch", "ultralytics", "fastapi", "celery", "cropwatch")
                             if importlib.util.find_spec(m) is None]}))
"""


@pytest.mark.slow
def test_the_agent_runs_an_edge_detection_in_a_venv_built_from_its_requirements(tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    py = env_dir / "bin" / "python"
    install = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "-r", str(PROJECT / "camera_agents" / "requirements.txt")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    code = tmp_path / "code"
    for pkg in ("camera_agents", "inference"):
        shutil.copytree(PROJECT / pkg, code / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    photo = next(p for p in sorted(PHOTOS.glob("*.jpg")) if "brown" in p.name)
    run = subprocess.run(
        [str(py), "-c", SCRIPT, str(tmp_path / "models"), str(MODEL), str(photo)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=code,
        env={"PYTHONPATH": str(code)},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["n"] >= 1 and len(out["sha"]) == 64
    assert out["absent"] == ["sqlalchemy", "torch", "ultralytics", "fastapi", "celery", "cropwatch"]
    assert sys.prefix != str(env_dir)
