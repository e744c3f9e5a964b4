"""Model registry: versions in the database, ONNX files in object storage keyed by sha256.

A model serves only after it is checked (sha256, ONNX checker, metadata, smoke inference — the
detector does the last three). Promotion archives the previous production model of the task;
workers notice the change on their next task and load the new file without a restart.
"""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path
from typing import Any

import onnx
from sqlalchemy import select
from sqlalchemy.orm import Session

from cropwatch.domain import ModelStage, ModelTask
from cropwatch.storage import Storage
from cropwatch.tables import ModelVersion
from cropwatch.timeutil import utcnow

SHIPPED_DIR = Path(__file__).resolve().parent


class RegistryError(ValueError):
    pass


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_onnx_metadata(path: Path) -> dict[str, Any]:
    """Class names, input size and task from the metadata Ultralytics (and training/) writes."""
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise RegistryError(f"{path.name}: not a readable ONNX file ({exc})") from exc
    meta = {p.key: p.value for p in model.metadata_props}
    if "names" not in meta:
        raise RegistryError(f"{path.name}: ONNX metadata has no class names")
    names = {int(k): str(v) for k, v in ast.literal_eval(meta["names"]).items()}
    imgsz = ast.literal_eval(meta.get("imgsz", "[640, 640]"))
    return {"names": names, "imgsz": int(max(imgsz)), "task": meta.get("cropwatch_task"), "raw": meta}


def model_key(task: ModelTask, sha256: str) -> str:
    return f"models/{task.value}/{sha256}.onnx"


def register(
    session: Session,
    storage: Storage,
    onnx_path: Path,
    *,
    task: ModelTask,
    name: str | None = None,
    stage: ModelStage = ModelStage.candidate,
    card: dict | None = None,
) -> ModelVersion:
    """Upload the file and record a version (idempotent per task and sha256)."""
    onnx_path = Path(onnx_path)
    digest = sha256_file(onnx_path)
    existing = session.scalar(select(ModelVersion).where(ModelVersion.task == task, ModelVersion.sha256 == digest))
    if existing is not None:
        return existing
    meta = read_onnx_metadata(onnx_path)
    key = model_key(task, digest)
    storage.put_bytes(key, onnx_path.read_bytes(), "application/octet-stream")
    card = card or {}
    names_vi = card.get("names_vi")
    mv = ModelVersion(
        task=task,
        name=name or onnx_path.stem,
        onnx_key=key,
        sha256=digest,
        classes={str(k): v for k, v in meta["names"].items()},
        classes_vi={str(k): v for k, v in names_vi.items()} if names_vi else None,
        input_size=meta["imgsz"],
        metrics=card.get("metrics"),
        stage=ModelStage.candidate,
    )
    session.add(mv)
    session.flush()
    if stage == ModelStage.production:
        promote(session, mv)
    return mv


def production(session: Session, task: ModelTask) -> ModelVersion | None:
    return session.scalar(
        select(ModelVersion).where(ModelVersion.task == task, ModelVersion.stage == ModelStage.production)
    )


def promote(session: Session, mv: ModelVersion) -> ModelVersion:
    for other in session.scalars(
        select(ModelVersion).where(ModelVersion.task == mv.task, ModelVersion.stage == ModelStage.production)
    ):
        if other.id != mv.id:
            other.stage = ModelStage.archived
    mv.stage = ModelStage.production
    mv.promoted_at = utcnow()
    session.flush()
    return mv


def shipped_models() -> list[tuple[ModelTask, Path, dict]]:
    """The bootstrap models committed under models/<task>/ with their model_card.json."""
    found = []
    for task in ModelTask:
        folder = SHIPPED_DIR / task.value
        for onnx_path in sorted(folder.glob("*.onnx")):
            card_path = folder / "model_card.json"
            card = json.loads(card_path.read_text()) if card_path.exists() else {}
            found.append((task, onnx_path, card))
    return found


def bootstrap(session: Session, storage: Storage) -> list[ModelVersion]:
    """Register the shipped models; each becomes production when its task has none yet."""
    out = []
    for task, path, card in shipped_models():
        stage = ModelStage.production if production(session, task) is None else ModelStage.candidate
        out.append(register(session, storage, path, task=task, stage=stage, card=card))
    return out
