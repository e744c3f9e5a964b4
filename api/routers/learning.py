"""The learning loop over HTTP: dataset versions, training runs, promotion through the gate, rollback.

Datasets and training runs belong to a cooperative (built from its reviewed captures), and so do the model versions
trained from them: a cooperative's ML engineer promotes, rolls back and shadows its own versions, which serve only
its cameras. The shared versions (the shipped models every cooperative falls back on) are changed only by
installation-level ML staff (``users.platform_ml``), never by a cooperative's ML engineer or the union admin. Every
change is recorded with who and why (``model_audit``).
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import or_, select

from api.deps import CurrentUser, SessionDep, SettingsDep, StorageDep
from api.errors import ApiError, not_found
from api.schemas import (
    DatasetBuildIn,
    DatasetVersionOut,
    Id,
    ModelOut,
    PromoteIn,
    TrainingRunIn,
    TrainingRunOut,
    errors,
)
from api.scoping import get_owned
from cropwatch.core.enums import Role
from cropwatch.core.orm import DatasetVersion, ModelVersion, TrainingRun
from datasets import golden
from datasets.versions import DatasetError, create_version, verified_captures
from models import registry

router = APIRouter(tags=["learning loop"], responses=errors(401))
ML = (Role.ml_engineer, Role.coop_admin)
REGISTRY_ADMINS = (Role.ml_engineer,)


def require_change_rights(principal, mv: ModelVersion) -> None:
    """403 unless the caller may change ``mv``: an ML engineer of its cooperative, or for a shared version an ML
    engineer who is installation-level ML staff."""
    principal.require(*REGISTRY_ADMINS)
    if mv.cooperative_id is None and not principal.user.platform_ml:
        raise ApiError(403, "shared_model_forbidden")


def _dataset_out(dv: DatasetVersion, storage, settings) -> DatasetVersionOut:
    out = DatasetVersionOut.model_validate(dv)
    if dv.preview_key:
        out.preview_url = storage.presigned_get(dv.preview_key, dt.timedelta(seconds=settings.image_url_expiry_seconds))
    return out


def _visible_dataset(session, principal, dataset_id: int) -> DatasetVersion:
    dv = session.get(DatasetVersion, dataset_id)
    if dv is None or dv.cooperative_id not in (None, principal.cooperative_id):
        raise not_found("dataset")
    return dv


@router.post(
    "/api/v1/datasets", response_model=DatasetVersionOut, status_code=201, responses=errors(400, 403, 409, 422)
)
def build_dataset(
    body: DatasetBuildIn, session: SessionDep, principal: CurrentUser, storage: StorageDep, settings: SettingsDep
) -> DatasetVersionOut:
    """Freeze the cooperative's human-verified captures (with filters) into the next version of ``name``."""
    principal.require(*ML)
    serving = registry.production_versions(session, body.task, principal.cooperative_id)
    if body.crop is None and len({tuple(sorted(mv.classes.items())) for mv in serving}) > 1:
        # a dataset belongs to one model family (its classes): rice photos must not be frozen with the vegetable
        # model's classes
        crops = sorted({c for mv in serving for c in (mv.crops or [])})
        raise ApiError(422, "dataset_needs_crop", crops=", ".join(crops))
    prod = registry.production(session, body.task, principal.cooperative_id, crop=body.crop)
    if prod is None:
        raise ApiError(409, "no_production_model", task=body.task.value)
    items = verified_captures(
        session,
        cooperative_id=principal.cooperative_id,
        plot_ids=body.plot_ids,
        crop=body.crop,
        since=body.since,
        until=body.until,
    )
    # a stable share of reviewed photos joins the golden set of the family instead (never trained on)
    golden.add(
        session,
        task=body.task,
        family=prod.family,
        cooperative_id=principal.cooperative_id,
        added_by=principal.user.id,
        items=[i for i in items if golden.goes_to_golden(i.sha256)],
    )
    try:
        dv = create_version(
            session,
            storage,
            name=body.name,
            task=body.task,
            classes={int(k): v for k, v in prod.classes.items()},
            items=items,
            cooperative_id=principal.cooperative_id,
            created_by=principal.user.id,
            only_classes=body.classes,
            filters=body.model_dump(mode="json", exclude={"name", "task"}, exclude_none=True),
        )
    except DatasetError:
        raise ApiError(422, "dataset_empty") from None
    session.commit()
    return _dataset_out(dv, storage, settings)


@router.get("/api/v1/datasets", response_model=list[DatasetVersionOut])
def list_datasets(
    session: SessionDep, principal: CurrentUser, storage: StorageDep, settings: SettingsDep
) -> list[DatasetVersionOut]:
    q = select(DatasetVersion).where(
        or_(DatasetVersion.cooperative_id.is_(None), DatasetVersion.cooperative_id == principal.cooperative_id)
    )
    return [
        _dataset_out(dv, storage, settings)
        for dv in session.scalars(q.order_by(DatasetVersion.name, DatasetVersion.version))
    ]


@router.get("/api/v1/datasets/{dataset_id}", response_model=DatasetVersionOut, responses=errors(404))
def get_dataset(
    dataset_id: Id, session: SessionDep, principal: CurrentUser, storage: StorageDep, settings: SettingsDep
) -> DatasetVersionOut:
    return _dataset_out(_visible_dataset(session, principal, dataset_id), storage, settings)


@router.post(
    "/api/v1/training/runs", response_model=TrainingRunOut, status_code=202, responses=errors(400, 403, 404, 422, 503)
)
def start_training(body: TrainingRunIn, request: Request, session: SessionDep, principal: CurrentUser) -> TrainingRun:
    """Queue a training run on the `training` workers; follow it with GET /api/v1/training/runs/{id}."""
    from training.jobs import create_run

    principal.require(Role.ml_engineer)
    dv = _visible_dataset(session, principal, body.dataset_version_id)
    base = None
    if body.base_model_version_id is not None:
        base = session.get(ModelVersion, body.base_model_version_id)
        if base is None or base.cooperative_id not in (None, principal.cooperative_id):
            raise not_found("model version")
    try:
        run = create_run(
            session,
            dataset=dv,
            created_by=principal.user.id,
            base=base,
            cooperative_id=principal.cooperative_id,
            params=body.model_dump(exclude={"dataset_version_id", "base_model_version_id"}),
        )
    except ValueError as exc:
        raise ApiError(422, "training_refused", reason=str(exc)) from None
    session.commit()
    try:
        request.app.state.enqueue_training(run.id)
    except Exception:  # noqa: BLE001 - the run stays queued; publishing again is safe
        raise ApiError(503, "broker_unavailable") from None
    return run


@router.get("/api/v1/training/runs", response_model=list[TrainingRunOut], responses=errors(403))
def list_runs(session: SessionDep, principal: CurrentUser) -> list[TrainingRun]:
    principal.require(*ML, Role.agronomist)
    q = select(TrainingRun).where(TrainingRun.cooperative_id == principal.cooperative_id)
    return list(session.scalars(q.order_by(TrainingRun.id.desc()).limit(100)))


@router.get("/api/v1/training/runs/{run_id}", response_model=TrainingRunOut, responses=errors(404))
def get_run(run_id: Id, session: SessionDep, principal: CurrentUser) -> TrainingRun:
    """Status, progress (0..1), log lines and metrics of a run."""
    return get_owned(session, TrainingRun, run_id, principal, "training run")


def _model(session, model_id: int, principal) -> ModelVersion:
    """A shared model version, or one of the caller's cooperative (another cooperative's is 404)."""
    mv = session.get(ModelVersion, model_id)
    if mv is None or mv.cooperative_id not in (None, principal.cooperative_id):
        raise not_found("model version")
    return mv


@router.post("/api/v1/models/{model_id}/promote", response_model=ModelOut, responses=errors(400, 403, 404, 409))
def promote_model(
    model_id: Id, body: PromoteIn, session: SessionDep, principal: CurrentUser, settings: SettingsDep
) -> ModelVersion:
    """Make a candidate production, if it passes the gate (its test mAP50 not below production's on the same
    split by more than the tolerance) or with a written reason. Workers load it within seconds, no restart."""
    mv = _model(session, model_id, principal)
    require_change_rights(principal, mv)
    try:
        registry.promote_gated(
            session,
            mv,
            by=principal.user.id,
            tolerance=settings.promotion_tolerance,
            floor=settings.promotion_min_map50,
            override_reason=body.reason,
        )
    except registry.GateRefused:
        cand, base = registry.gate_map50(mv)
        raise ApiError(
            409,
            "gate_refused",
            candidate="–" if cand is None else f"{cand:.3f}",
            production="–" if base is None else f"{base:.3f}",
            floor=f"{settings.promotion_min_map50:.2f}",
        ) from None
    session.commit()
    return mv


@router.post("/api/v1/models/{model_id}/rollback", response_model=ModelOut, responses=errors(400, 403, 404, 409))
def rollback_model(model_id: Id, body: PromoteIn, session: SessionDep, principal: CurrentUser) -> ModelVersion:
    """Put an earlier production version back in service (the current one is archived); a version that served by a
    gate override needs a written reason again."""
    mv = _model(session, model_id, principal)
    require_change_rights(principal, mv)
    try:
        registry.rollback(session, mv, by=principal.user.id, reason=body.reason)
    except registry.RegistryError as exc:
        raise ApiError(409, "rollback_refused", reason=str(exc)) from None
    session.commit()
    return mv


@router.post("/api/v1/models/{model_id}/shadow", response_model=ModelOut, responses=errors(403, 404, 409))
def start_shadow(model_id: Id, session: SessionDep, principal: CurrentUser) -> ModelVersion:
    """Run a candidate beside production on a sample of live captures (``CROPWATCH_SHADOW_SAMPLE_RATE``): its
    results are stored apart, compared, and never counted or alerted."""
    return _shadow_change(session, principal, model_id, registry.start_shadow)


@router.delete("/api/v1/models/{model_id}/shadow", response_model=ModelOut, responses=errors(403, 404, 409))
def stop_shadow(model_id: Id, session: SessionDep, principal: CurrentUser) -> ModelVersion:
    return _shadow_change(session, principal, model_id, registry.stop_shadow)


def _shadow_change(session, principal, model_id: int, change) -> ModelVersion:
    mv = _model(session, model_id, principal)
    require_change_rights(principal, mv)
    try:
        change(session, mv, by=principal.user.id)
    except registry.RegistryError as exc:
        raise ApiError(409, "shadow_refused", reason=str(exc)) from None
    session.commit()
    return mv


@router.get("/api/v1/models/{model_id}/shadow-report", responses=errors(403, 404))
def shadow_report(model_id: Id, session: SessionDep, principal: CurrentUser) -> dict:
    """The shadow model against production and against reviewers, on this cooperative's captures."""
    from models.shadow import report

    principal.require(*ML, Role.agronomist)
    _model(session, model_id, principal)
    return report(session, model_id, cooperative_id=principal.cooperative_id)


@router.get("/api/v1/models/{model_id}/reports/{name}", response_class=RedirectResponse, responses=errors(404))
def model_report(
    model_id: Id, name: str, session: SessionDep, principal: CurrentUser, storage: StorageDep, settings: SettingsDep
) -> RedirectResponse:
    """A picture from the version's evaluation (``confusion_matrix`` or ``pr_curve``): a redirect to the image."""
    mv = _model(session, model_id, principal)
    key = ((mv.metrics or {}).get("reports") or {}).get(name)
    if key is None:
        raise not_found("report")
    return RedirectResponse(storage.presigned_get(key, dt.timedelta(seconds=settings.image_url_expiry_seconds)))
