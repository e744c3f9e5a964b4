"""Workers' view of the registry: the production detector per task, reloaded when promotion changes it.

A model file is fetched from object storage once per sha256 into the data dir, verified, and
loaded; a model that fails its checks is refused and the one already loaded keeps serving.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cropwatch.core.enums import ModelStage, ModelTask
from cropwatch.core.orm import ModelVersion
from cropwatch.core.settings import Settings
from cropwatch.core.storage import Storage
from inference.detector import ModelRejected, OnnxDetector
from models import registry

log = logging.getLogger(__name__)


def model_call_batch(settings: Settings) -> int:
    """Images per model call: ``onnx_max_batch``, else one per parallel call on the CPU, a whole batch on a GPU."""
    if settings.onnx_max_batch:
        return settings.onnx_max_batch
    return settings.onnx_parallel if settings.execution_provider == "cpu" else settings.batch_size


class NoModel(RuntimeError):
    """No production model can serve this task right now (transient: retried later)."""


class ModelCache:
    def __init__(self, settings: Settings, storage: Storage, *, check_every: float = 2.0) -> None:
        self.settings = settings
        self.storage = storage
        self.check_every = check_every
        # per (task, cooperative, crop, camera kind): (version id, sha256 served, detector); one detector per sha256
        self._loaded: dict[tuple, tuple[int, str, OnnxDetector]] = {}
        self._by_sha: dict[str, OnnxDetector] = {}
        self.family_of: dict[int, str | None] = {}  # version id → family, for the shadow of the same family
        self._refused: set[str] = set()
        self._checked_at: dict[object, float] = {}
        self._lock = threading.Lock()
        self._warned_variant = False
        self._shadow: dict[ModelTask, tuple[int, str, OnnxDetector | None]] = {}

    def _fetch(self, key: str, sha256: str) -> Path:
        folder = self.settings.models_dir
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{sha256}.onnx"
        if not path.exists() or registry.sha256_file(path) != sha256:
            # a name of this process and thread's own: two workers (or a worker's warm-up and its first task)
            # fetching the same model each write their own copy and the rename is atomic; with one shared
            # ".part" the second rename found the file gone (a soak's first batch failed on it)
            tmp = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.part")
            tmp.write_bytes(self.storage.get_bytes(key))
            tmp.replace(path)
        return path

    def _detector(
        self, key: str, sha256: str, variant: str, detect: dict | None = None, tiling: dict | None = None
    ) -> OnnxDetector:
        """Fetch (once per sha256) and load a model file with the worker's settings and the version's detection
        settings (conf, NMS IoU, max detections); ModelRejected if it is bad."""
        detector = OnnxDetector(
            self._fetch(key, sha256),
            threads=self.settings.onnx_threads,
            provider=self.settings.execution_provider,
            expected_sha256=sha256,
            max_batch=model_call_batch(self.settings),
            parallel=self.settings.onnx_parallel,
            **(detect or registry.DEFAULT_DETECT),
        )
        detector.variant = variant
        detector.tiling = tiling  # the version's own tiling (registry.tiling), used when the camera sets none
        return detector

    def loaded(self) -> list[dict]:
        """What this worker serves now (for heartbeats, health and metrics)."""
        out, seen = [], set()
        for (task, *_), (mv_id, sha, det) in self._loaded.items():
            if mv_id not in seen:
                seen.add(mv_id)
                out.append(
                    {
                        "task": task.value,
                        "stage": "production",
                        "model_version_id": mv_id,
                        "sha256": sha,
                        "variant": det.variant,
                        "provider": det.provider,
                    }
                )
        out += [
            {
                "task": task.value,
                "stage": "shadow",
                "model_version_id": mv_id,
                "sha256": sha,
                "variant": det.variant,
                "provider": det.provider,
            }
            for (task, *_), (mv_id, sha, det) in self._shadow.items()
            if det is not None
        ]
        return out

    def shadow(
        self, session: Session, task: ModelTask, cooperative_id: int | None = None, family: str | None = None
    ) -> tuple[int, OnnxDetector] | None:
        """(model_version_id, detector) of the shadow model of ``family`` for ``cooperative_id``'s captures (its own
        shadow, else the shared one), or None (none, or it cannot load). A cooperative's shadow never runs on
        another's, and a family's shadow only beside that family's production model."""
        slot = (task, cooperative_id, family)
        with self._lock:
            now = time.monotonic()
            key = ("shadow", slot)
            if slot in self._shadow and now - self._checked_at.get(key, 0) < self.check_every:
                cur = self._shadow[slot]
                return (cur[0], cur[2]) if cur[2] is not None else None
            self._checked_at[key] = now
            # the family's own shadow first; a shadow that declares no family runs beside any of the task
            q = (
                select(ModelVersion)
                .where(
                    ModelVersion.task == task,
                    ModelVersion.stage == ModelStage.shadow,
                    or_(ModelVersion.family.is_(None), ModelVersion.family == family),
                )
                .order_by(ModelVersion.family.is_(None), ModelVersion.id)
            )
            mv = None
            if cooperative_id is not None:
                mv = session.scalars(q.where(ModelVersion.cooperative_id == cooperative_id)).first()
            if mv is None:
                mv = session.scalars(q.where(ModelVersion.cooperative_id.is_(None))).first()
            if mv is None:
                self._shadow.pop(slot, None)
                return None
            variant, obj_key, sha256 = registry.artifact(mv, self.settings.model_variant)
            cur = self._shadow.get(slot)
            if cur and cur[1] == sha256:
                return (cur[0], cur[2]) if cur[2] is not None else None
            try:
                detector = self._detector(obj_key, sha256, variant, registry.detect_settings(mv), registry.tiling(mv))
            except ModelRejected as exc:
                log.error("shadow model %s refused: %s", mv.id, exc)
                self._shadow[slot] = (mv.id, sha256, None)
                return None
            log.info("shadow %s model %s (%s) loaded", task.value, mv.id, sha256[:12])
            self._shadow[slot] = (mv.id, sha256, detector)
            return mv.id, detector

    def get(
        self,
        session: Session,
        task: ModelTask,
        cooperative_id: int | None = None,
        *,
        crop: str | None = None,
        camera_kind: str | None = None,
    ) -> tuple[int, OnnxDetector]:
        """(model_version_id, detector) of the production model serving a capture of ``cooperative_id`` (its own,
        else the shared one) from a plot of ``crop`` and a camera of ``camera_kind`` (registry.production); keeps
        the old one if the new is bad."""
        slot = (task, cooperative_id, crop, getattr(camera_kind, "value", camera_kind))
        with self._lock:
            now = time.monotonic()
            current = self._loaded.get(slot)
            if current and now - self._checked_at.get(slot, 0) < self.check_every:
                return current[0], current[2]
            self._checked_at[slot] = now
            mv = registry.production(session, task, cooperative_id, crop=crop, camera_kind=camera_kind)
            if mv is None:
                if current:
                    return current[0], current[2]
                raise NoModel(f"no production model for task '{task.value}'")
            variant, key, sha256 = registry.artifact(mv, self.settings.model_variant)
            if variant != self.settings.model_variant and not self._warned_variant:
                log.warning(
                    "model %s has no %s variant; serving its %s file", mv.id, self.settings.model_variant, variant
                )
                self._warned_variant = True
            if current and current[1] == sha256:
                return current[0], current[2]
            if sha256 in self._refused:
                if current:
                    return current[0], current[2]
                raise NoModel(f"production model {mv.id} for '{task.value}' was refused")
            try:
                detector = self._by_sha.get(sha256) or self._detector(
                    key, sha256, variant, registry.detect_settings(mv), registry.tiling(mv)
                )
            except ModelRejected as exc:
                log.error("model %s (%s) refused: %s; keeping the previous model", mv.id, sha256[:12], exc)
                self._refused.add(sha256)
                if current:
                    return current[0], current[2]
                raise NoModel(str(exc)) from exc
            log.info("loaded %s model %s (%s, %s) on %s", task.value, mv.id, variant, sha256[:12], detector.provider)
            self._by_sha[sha256] = detector
            self.family_of[mv.id] = mv.family
            self._loaded[slot] = (mv.id, sha256, detector)
            return mv.id, detector
