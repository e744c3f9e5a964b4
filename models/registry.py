"""Model registry: versions in the database, ONNX files in object storage keyed by sha256.

A model serves only after it is checked (sha256, ONNX checker, metadata, smoke inference — the
detector does the last three). Promotion archives the previous production model of the task *in the same scope*;
workers notice the change on their next task and load the new file without a restart.

Ownership (docs/decisions.md, "Who owns a model"): a version with ``cooperative_id`` NULL is shared (the shipped
models, and what installation-level ML staff publish); a version trained from a cooperative's dataset belongs to
that cooperative. Each scope has its own production model per task: a cooperative's captures are detected by its
own production model when it has one, else by the shared one. Nothing a cooperative does changes what another
cooperative's cameras run. Every change is written to ``model_audit`` (who, when, why) as well as the version's
history.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cropwatch.core.enums import ModelStage, ModelTask
from cropwatch.core.orm import ModelAudit, ModelVersion
from cropwatch.core.storage import Storage
from cropwatch.core.timeutil import utcnow
from inference.model_file import ModelRejected, read_metadata

SHIPPED_DIR = Path(__file__).resolve().parent


def card_files(folder: Path, model_name: str) -> tuple[Path, Path]:
    """Where a shipped model's card lives: ``<model>.card.json`` and ``<model>.MODEL_CARD.md`` beside its ONNX
    file (a task folder holds one model per crop family, each with its own card)."""
    return Path(folder) / f"{model_name}.card.json", Path(folder) / f"{model_name}.MODEL_CARD.md"


#: detection settings of a version unless its card says otherwise (Ultralytics' conf; NMS IoU 0.45 as the worker
#: has always used; 300 boxes, which a sticky-trap model raises above its densest card)
DEFAULT_DETECT = {"conf": 0.25, "iou": 0.45, "max_det": 300}


#: detection settings a version may declare besides those: ``tile`` (a sticky-trap model trained on windows of that
#: many source pixels is read tiled, see :func:`tiling`)
MODEL_TILING_KEYS = ("tile",)


def tiling(mv: ModelVersion) -> dict[str, Any] | None:
    """How a version's photos are read when their camera sets no tiling of its own: a model trained on windows
    (``tile`` in its card's detection settings) reads over windows of that size, as its count error was measured
    (training.count_eval: overlap 0.2, no whole-photo pass); None for the others."""
    tile = int((mv.detect_settings or {}).get("tile") or 0)
    return {"tile": tile, "overlap": 0.2, "include_full": False} if tile else None


def detect_settings(mv: ModelVersion) -> dict[str, float | int]:
    """Confidence, NMS IoU and max detections of a version: the same for the worker, the shadow runner and the
    edge agent (which gets them with its model in the camera configuration)."""
    return DEFAULT_DETECT | {k: v for k, v in (mv.detect_settings or {}).items() if k in DEFAULT_DETECT}


class RegistryError(ValueError):
    pass


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_onnx_metadata(path: Path) -> dict[str, Any]:
    """Class names, input size and task from the metadata Ultralytics (and training/) writes (parsed once, by the
    vision library's :func:`inference.model_file.read_metadata`)."""
    try:
        meta = read_metadata(path)
    except ModelRejected as exc:
        raise RegistryError(f"{path.name}: {exc.detail}") from exc
    if not isinstance(meta.get("names"), dict):
        raise RegistryError(f"{path.name}: ONNX metadata has no class names")
    names = {int(k): str(v) for k, v in meta["names"].items()}
    imgsz = meta.get("imgsz", [640, 640])
    imgsz = [imgsz] if isinstance(imgsz, int) else imgsz
    return {"names": names, "imgsz": int(max(imgsz)), "task": meta.get("cropwatch_task")}


def model_key(task: ModelTask, sha256: str) -> str:
    return f"models/{task.value}/{sha256}.onnx"


#: variants a version may carry besides its FP32 file (``training/quantize.py`` writes ``<name>.int8.onnx``)
VARIANTS = ("int8",)


def variant_path(fp32: Path, variant: str) -> Path:
    return fp32.with_name(f"{fp32.stem}.{variant}.onnx")


def add_variant(
    session: Session, storage: Storage, mv: ModelVersion, path: Path, *, variant: str, metrics: dict | None = None
) -> ModelVersion:
    """Attach another artifact of the same model (e.g. its INT8 quantization) to ``mv``; idempotent."""
    if variant not in VARIANTS:
        raise RegistryError(f"unknown model variant {variant!r}; known: {', '.join(VARIANTS)}")
    path = Path(path)
    digest = sha256_file(path)
    current = dict(mv.variants or {})
    if current.get(variant, {}).get("sha256") == digest:
        return mv
    meta = read_onnx_metadata(path)
    if {str(k): v for k, v in meta["names"].items()} != mv.classes:
        raise RegistryError(f"{path.name}: its classes differ from model version {mv.id}'s")
    key = model_key(mv.task, digest)
    storage.put_bytes(key, path.read_bytes(), "application/octet-stream")
    current[variant] = {"key": key, "sha256": digest, "size_bytes": path.stat().st_size, "metrics": metrics}
    mv.variants = current  # a new dict, so the JSON column is seen as changed
    session.flush()
    return mv


def artifact(mv: ModelVersion, variant: str = "fp32") -> tuple[str, str, str]:
    """(variant served, object key, sha256) for the wanted variant; FP32 when the version has no such variant."""
    if variant != "fp32" and variant in (mv.variants or {}):
        v = mv.variants[variant]
        return variant, v["key"], v["sha256"]
    return "fp32", mv.onnx_key, mv.sha256


def register(
    session: Session,
    storage: Storage,
    onnx_path: Path,
    *,
    task: ModelTask,
    name: str | None = None,
    stage: ModelStage = ModelStage.candidate,
    card: dict | None = None,
    cooperative_id: int | None = None,
    by: int | None = None,
) -> ModelVersion:
    """Upload the file and record a version (idempotent per task and sha256) owned by ``cooperative_id`` (None:
    shared)."""
    onnx_path = Path(onnx_path)
    digest = sha256_file(onnx_path)
    existing = session.scalar(select(ModelVersion).where(ModelVersion.task == task, ModelVersion.sha256 == digest))
    if existing is not None and existing.cooperative_id != cooperative_id:
        raise RegistryError("an identical model file is already registered in another scope")
    if existing is not None:
        _attach_variants(session, storage, existing, onnx_path, card or {})
        return existing
    meta = read_onnx_metadata(onnx_path)
    key = model_key(task, digest)
    storage.put_bytes(key, onnx_path.read_bytes(), "application/octet-stream")
    card = card or {}
    names_vi = card.get("names_vi")
    mv = ModelVersion(
        cooperative_id=cooperative_id,
        task=task,
        name=name or onnx_path.stem,
        onnx_key=key,
        sha256=digest,
        classes={str(k): v for k, v in meta["names"].items()},
        classes_vi={str(k): v for k, v in names_vi.items()} if names_vi else None,
        input_size=meta["imgsz"],
        metrics=_with_licence(card),
        detect_settings=DEFAULT_DETECT
        | {k: v for k, v in (card.get("detect") or {}).items() if k in DEFAULT_DETECT or k in MODEL_TILING_KEYS},
        family=card.get("family"),
        crops=card.get("crops") or None,
        camera_kinds=card.get("camera_kinds") or None,
        stage=ModelStage.candidate,
    )
    session.add(mv)
    session.flush()
    _note(mv, "register", by, None, sha256=digest, name=mv.name)
    _attach_variants(session, storage, mv, onnx_path, card)
    if stage == ModelStage.production:
        promote(session, mv)
    return mv


def _with_licence(card: dict) -> dict | None:
    """The card's metrics, with the data licence, attribution and warnings the ML page must show beside them."""
    metrics = card.get("metrics")
    data = card.get("dataset") or {}
    if metrics is None or not data.get("license"):
        return metrics
    return {
        **metrics,
        "license": data["license"],
        "attribution": data.get("attribution"),
        "warnings": list(card.get("warnings") or []),
    }


def _attach_variants(session: Session, storage: Storage, mv: ModelVersion, fp32: Path, card: dict) -> None:
    for variant in VARIANTS:
        path = variant_path(fp32, variant)
        if path.exists():
            add_variant(
                session,
                storage,
                mv,
                path,
                variant=variant,
                metrics=(card.get("variants") or {}).get(variant, {}).get("metrics"),
            )


def _in_scope(q, cooperative_id: int | None):
    return q.where(
        ModelVersion.cooperative_id.is_(None)
        if cooperative_id is None
        else ModelVersion.cooperative_id == cooperative_id
    )


def _same_family(q, family: str | None):
    return q.where(ModelVersion.family.is_(None) if family is None else ModelVersion.family == family)


def serves(mv: ModelVersion, crop: str | None, camera_kind: str | None) -> int:
    """How well ``mv`` fits a capture: 3 declared for its camera kind (a sticky trap is read by the trap model
    whatever the crop), 2 for its plot's crop, 1 generic (declares neither), 0 declared for others."""
    kinds, crops = mv.camera_kinds or [], mv.crops or []
    if camera_kind is not None and camera_kind in kinds:
        return 3
    if crop is not None and crop.casefold() in {c.casefold() for c in crops}:
        return 2
    return 1 if not kinds and not crops else 0


def production(
    session: Session,
    task: ModelTask,
    cooperative_id: int | None = None,
    *,
    own_only: bool = False,
    crop: str | None = None,
    camera_kind: str | None = None,
    family: str | None | object = ...,
) -> ModelVersion | None:
    """The production model that serves a capture of ``task`` in ``cooperative_id`` from a plot of ``crop`` and a
    camera of ``camera_kind``: among the scope's production versions (the cooperative's own first, then the shared
    ones) the family declared for the camera kind or crop, else the generic one, else any. ``family`` (given): that
    family's production version in the scope only. ``own_only``: only the cooperative's own scope."""
    q = select(ModelVersion).where(ModelVersion.task == task, ModelVersion.stage == ModelStage.production)
    if family is not ...:
        q = _same_family(q, family)
    scopes = [cooperative_id] if own_only or cooperative_id is None else [cooperative_id, None]
    for scope in scopes:
        rows = list(session.scalars(_in_scope(q, scope).order_by(ModelVersion.id)))
        if rows:
            kind = getattr(camera_kind, "value", camera_kind)
            return max(rows, key=lambda mv: serves(mv, crop, kind))
    return None


def production_versions(session: Session, task: ModelTask, cooperative_id: int | None) -> list[ModelVersion]:
    """Every production version of ``task`` that can serve ``cooperative_id`` (its own and the shared ones)."""
    q = select(ModelVersion).where(ModelVersion.task == task, ModelVersion.stage == ModelStage.production)
    q = q.where(or_(ModelVersion.cooperative_id.is_(None), ModelVersion.cooperative_id == cooperative_id))
    return list(session.scalars(q.order_by(ModelVersion.id)))


def production_for_classes(
    session: Session, task: ModelTask, cooperative_id: int | None, classes: dict
) -> ModelVersion | None:
    """The production model serving ``cooperative_id`` whose classes are ``classes`` (a dataset's): the baseline a
    training run on that dataset is compared with, whichever crop family it is; else :func:`production`."""
    want = {str(k): v for k, v in classes.items()}
    q = select(ModelVersion).where(ModelVersion.task == task, ModelVersion.stage == ModelStage.production)
    scopes = [cooperative_id, None] if cooperative_id is not None else [None]
    for scope in scopes:
        for mv in session.scalars(_in_scope(q, scope).order_by(ModelVersion.id)):
            if {str(k): v for k, v in mv.classes.items()} == want:
                return mv
    return production(session, task, cooperative_id)


def production_classes(session: Session, cooperative_id: int | None) -> dict[str, str]:
    """{class name: Vietnamese name} of every production model that can serve the cooperative (its own and the
    shared ones), in the models' class order: the names an alert rule may name."""
    q = select(ModelVersion).where(ModelVersion.stage == ModelStage.production)
    q = q.where(or_(ModelVersion.cooperative_id.is_(None), ModelVersion.cooperative_id == cooperative_id))
    out: dict[str, str] = {}
    for mv in session.scalars(q.order_by(ModelVersion.task, ModelVersion.id)):
        vi = mv.classes_vi or {}
        for k, name in sorted(mv.classes.items(), key=lambda kv: int(kv[0])):
            out.setdefault(name, vi.get(str(k)) or vi.get(k) or name)
    return out


class GateRefused(RegistryError):
    """The candidate scores below production by more than the tolerance; promote with a written reason instead."""


def _note(mv: ModelVersion, action: str, by: int | None, reason: str | None, **extra: Any) -> None:
    mv.history = [
        *(mv.history or []),
        {"at": utcnow().isoformat(), "action": action, "by": by, "reason": reason, **extra},
    ]
    session = Session.object_session(mv)
    if session is not None:
        session.add(
            ModelAudit(
                model_version_id=mv.id,
                cooperative_id=mv.cooperative_id,
                action=action,
                by_user_id=by,
                reason=reason,
                details=extra or None,
            )
        )


def audit_log(session: Session, *, cooperative_id: int | None = None, limit: int = 200) -> list[ModelAudit]:
    """Registry changes in a scope (a cooperative's own versions, or the shared ones), newest first."""
    q = select(ModelAudit).where(
        ModelAudit.cooperative_id.is_(None) if cooperative_id is None else ModelAudit.cooperative_id == cooperative_id
    )
    return list(session.scalars(q.order_by(ModelAudit.id.desc()).limit(limit)))


def gate_passes(cand: float | None, base: float | None, *, tolerance: float, floor: float) -> bool:
    """The promotion gate: the candidate clears an absolute floor, and is not below the baseline (production on the
    same split) by more than ``tolerance``. Two zeros do not pass: a zero or tiny baseline proves nothing, and the
    floor still applies."""
    if cand is None or cand < floor:
        return False
    return base is None or cand >= base - tolerance


def gate_map50(mv: ModelVersion) -> tuple[float | None, float | None]:
    """(candidate mAP50, production's mAP50 on the same images) from the metrics a training run records: on the
    family's golden set when the run scored both there (datasets/golden.py), else on the candidate's test split."""
    m = mv.metrics or {}
    g = m.get("golden") or {}
    if g.get("images") and g.get("map50") is not None:
        return g["map50"], g.get("baseline_map50")
    base = (m.get("baseline") or {}).get("map50")
    return m.get("map50"), base


def promote_gated(
    session: Session,
    mv: ModelVersion,
    *,
    by: int | None,
    tolerance: float = 0.01,
    floor: float = 0.10,
    override_reason: str | None = None,
) -> ModelVersion:
    """Promote in the version's own scope if it passes :func:`gate_passes`; otherwise only with
    ``override_reason``, which is recorded."""
    current = production(session, mv.task, mv.cooperative_id, own_only=True, family=mv.family)
    cand, base = gate_map50(mv)
    passed = (current is not None and current.id == mv.id) or gate_passes(cand, base, tolerance=tolerance, floor=floor)
    if not passed and not override_reason:
        c = "none" if cand is None else f"{cand:.3f}"
        b = "none" if base is None else f"{base:.3f}"
        raise GateRefused(
            f"candidate mAP50 {c} (production {b} on the same split) does not pass the gate "
            f"(floor {floor:.2f}, tolerance {tolerance:.3f}); give a reason to promote anyway"
        )
    promote(session, mv)
    _note(
        mv,
        "promote",
        by,
        override_reason,
        gate="passed" if passed else "overridden",
        candidate_map50=cand,
        production_map50=base,
        replaced=current.id if current else None,
    )
    return mv


def passed_gate_when_promoted(mv: ModelVersion) -> bool:
    """Whether the version's last promotion passed the gate (a shipped model, registered as production, did)."""
    for entry in reversed(mv.history or []):
        if entry.get("action") == "promote":
            return entry.get("gate") == "passed"
    return True


def rollback(session: Session, target: ModelVersion, *, by: int | None, reason: str | None = None) -> ModelVersion:
    """Make an earlier version of the same scope production again; the current one is archived. A version that
    went into service past the gate (override) needs a written reason again, like the override did."""
    current = production(session, target.task, target.cooperative_id, own_only=True, family=target.family)
    if current is not None and current.id == target.id:
        raise RegistryError(f"model version {target.id} is already in production")
    if target.promoted_at is None:
        raise RegistryError(f"model version {target.id} never served; promote it instead of rolling back to it")
    if not passed_gate_when_promoted(target) and not (reason or "").strip():
        raise RegistryError(
            f"model version {target.id} went into service by a gate override; give a reason to roll back to it"
        )
    promote(session, target)
    _note(target, "rollback", by, reason, replaced=current.id if current else None)
    return target


def start_shadow(session: Session, mv: ModelVersion, *, by: int | None) -> ModelVersion:
    """Run ``mv`` beside production on a sample of live captures (one shadow per task; the previous one goes back to
    candidate). Shadow results are stored apart and never counted or alerted."""
    if mv.stage not in (ModelStage.candidate, ModelStage.archived):
        raise RegistryError(f"model version {mv.id} is {mv.stage.value}; only a candidate or archived one can shadow")
    for other in session.scalars(
        _same_family(
            _in_scope(
                select(ModelVersion).where(ModelVersion.task == mv.task, ModelVersion.stage == ModelStage.shadow),
                mv.cooperative_id,
            ),
            mv.family,
        )
    ):
        other.stage = ModelStage.candidate
    mv.stage = ModelStage.shadow
    _note(mv, "shadow", by, None)
    session.flush()
    return mv


def stop_shadow(session: Session, mv: ModelVersion, *, by: int | None) -> ModelVersion:
    if mv.stage != ModelStage.shadow:
        raise RegistryError(f"model version {mv.id} is not in shadow mode")
    mv.stage = ModelStage.candidate
    _note(mv, "shadow stopped", by, None)
    session.flush()
    return mv


def promote(session: Session, mv: ModelVersion) -> ModelVersion:
    """Make ``mv`` the production model of its family in its scope (the previous one of that family and scope is
    archived; other families keep theirs)."""
    for other in session.scalars(
        _same_family(
            _in_scope(
                select(ModelVersion).where(ModelVersion.task == mv.task, ModelVersion.stage == ModelStage.production),
                mv.cooperative_id,
            ),
            mv.family,
        )
    ):
        if other.id != mv.id:
            other.stage = ModelStage.archived
    mv.stage = ModelStage.production
    mv.promoted_at = utcnow()
    session.flush()
    return mv


def shipped_models() -> list[tuple[ModelTask, Path, dict]]:
    """The bootstrap models committed under models/<task>/, each with its ``<model>.card.json``."""
    found = []
    for task in ModelTask:
        folder = SHIPPED_DIR / task.value
        for onnx_path in sorted(folder.glob("*.onnx")):
            if any(onnx_path.name.endswith(f".{v}.onnx") for v in VARIANTS):
                continue  # attached to its FP32 version
            card_path, _ = card_files(folder, onnx_path.stem)
            card = json.loads(card_path.read_text()) if card_path.exists() else {}
            found.append((task, onnx_path, card))
    return found


def bootstrap(session: Session, storage: Storage, *, families: set[str] | None = None) -> list[ModelVersion]:
    """Register the shipped models (``families``: only those); each becomes production when its family has none
    yet."""
    out = []
    for task, path, card in shipped_models():
        family = card.get("family")
        if families is not None and family not in families:
            continue
        stage = (
            ModelStage.production
            if production(session, task, own_only=True, family=family) is None
            else ModelStage.candidate
        )
        out.append(register(session, storage, path, task=task, stage=stage, card=card))
    return out
