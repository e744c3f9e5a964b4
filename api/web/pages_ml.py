"""Pages of the ml group: dataset versions (freeze a new one from reviewed captures, class counts, mosaic preview),
training runs (start one, follow its live log) and the model registry (versions per task side by side, promote
through the gate or with a written reason, roll back, shadow mode, agreement with reviewers over time).

The rules are the API's (``api.routers.learning``): datasets and runs belong to the caller's cooperative (shared
datasets are visible to all), the registry is shared by the installation and only ``REGISTRY_ADMINS`` change it.
The actions call the API's own router functions, so the checks, gate and records are the same.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, or_, select

from api.deps import Principal, SessionDep, SettingsDep, StorageDep
from api.errors import ApiError, not_found
from api.routers import learning as learning_api
from api.schemas import DatasetBuildIn, Id, PromoteIn, TrainingRunIn
from api.scoping import get_owned, scoped
from api.web.render import class_names_vi, render, translate
from api.web.session import PageUser, csrf_protect, page_locale
from cropwatch.core.enums import ModelStage, ModelTask, Role
from cropwatch.core.orm import DatasetVersion, InferenceRun, ModelVersion, Plot, TrainingRun, User
from cropwatch.core.timeutil import fmt_date, local_day_bounds
from cropwatch.review.actions import agreement_over_time
from models import registry

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

#: who may freeze datasets / start runs / change the registry: exactly the API's sets
DATASET_BUILDERS = learning_api.ML
RUN_STARTERS = (Role.ml_engineer,)
REGISTRY_ADMINS = learning_api.REGISTRY_ADMINS
#: who may look: the API's readers (ML staff and agronomists) and the union admin the navigation links here
VIEWERS = (Role.ml_engineer, Role.coop_admin, Role.union_admin, Role.agronomist)
ACTIVE = ("queued", "running")
STAGE_ORDER = {ModelStage.production: 0, ModelStage.shadow: 1, ModelStage.candidate: 2, ModelStage.archived: 3}
REPORTS = ("confusion_matrix", "pr_curve")
EPOCH_LINE = re.compile(r"epoch (\d+)/(\d+): val mAP50 ([0-9.]+)")


def _error(request: Request, principal: Principal, exc: ApiError) -> str:
    return translate(exc.code, page_locale(request, principal), **exc.params)


def _invalid(request: Request, principal: Principal, exc: ValidationError) -> str:
    fields = ", ".join(str(e["loc"][-1]) for e in exc.errors() if e.get("loc"))
    return translate("ml_invalid_form", page_locale(request, principal), fields=fields)


def _visible_models(principal: Principal):
    return select(ModelVersion).where(
        or_(ModelVersion.cooperative_id.is_(None), ModelVersion.cooperative_id == principal.cooperative_id)
    )


def _visible_model(session, principal: Principal, model_id: int) -> ModelVersion:
    mv = session.scalar(_visible_models(principal).where(ModelVersion.id == model_id))
    if mv is None:
        raise not_found("model version")
    return mv


def _visible_datasets(principal: Principal):
    return select(DatasetVersion).where(
        or_(DatasetVersion.cooperative_id.is_(None), DatasetVersion.cooperative_id == principal.cooperative_id)
    )


def _image(data: bytes, media_type: str) -> Response:
    return Response(
        data,
        media_type=media_type,
        headers={"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff"},
    )


# datasets ------------------------------------------------------------------------------------------------------


AREA_KEYS = {"small (<1%)": "ml_area_small", "medium (<10%)": "ml_area_medium", "large": "ml_area_large"}


def _filters(filters: dict | None) -> list[tuple[str, str]]:
    """(message key, value) for the filters a version was frozen with; days shown as local dd/mm/yyyy."""
    out = []
    for key, value in (filters or {}).items():
        if key in ("since", "until") and isinstance(value, str):
            try:
                moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
                value = fmt_date(moment - dt.timedelta(microseconds=1) if key == "until" else moment)
            except ValueError:
                pass
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        out.append(
            (f"ml_filter_{key}" if key in ("plot_ids", "crop", "since", "until", "classes") else key, str(value))
        )
    return out


def _dataset_view(dv: DatasetVersion) -> dict[str, Any]:
    stats = dv.stats or {}
    images = stats.get("images") or {}
    boxes = stats.get("boxes_per_class") or {}
    classes = [
        {"id": int(k), "name": name, "boxes": int(boxes.get(name, 0))}
        for k, name in sorted((dv.classes or {}).items(), key=lambda kv: int(kv[0]))
    ]
    return {
        "dv": dv,
        "images": sum(images.values()),
        "splits": {s: int(images.get(s, 0)) for s in ("train", "val", "test")},
        "boxes": sum(boxes.values()),
        "negatives": int(stats.get("negatives") or 0),
        "classes": classes,
        "dropped": stats.get("dropped_unknown_class") or {},
        "filters": _filters(dv.filters),
        "areas": [(AREA_KEYS.get(k, k), v) for k, v in (stats.get("box_area_share") or {}).items()],
        "top": sorted((c for c in classes if c["boxes"]), key=lambda c: -c["boxes"])[:3],
    }


def _datasets_page(
    request: Request,
    session,
    principal: Principal,
    *,
    error: str | None = None,
    form: dict | None = None,
    status: int = 200,
) -> Response:
    principal.require(*VIEWERS)
    found = session.scalars(
        _visible_datasets(principal).order_by(DatasetVersion.name, DatasetVersion.version.desc())
    ).all()
    production = {t.value: registry.production(session, t, principal.cooperative_id) for t in ModelTask}
    crops = sorted(c for c in session.scalars(scoped(Plot, principal).with_only_columns(Plot.crop).distinct()) if c)
    return render(
        request,
        "ml/datasets.html",
        principal,
        status=status,
        rows=[_dataset_view(d) for d in found],
        error=error,
        form=form or {},
        tasks=list(ModelTask),
        crops=crops,
        plots=session.scalars(scoped(Plot, principal).order_by(Plot.name)).all(),
        production={k: (sorted(v.classes.values()) if v else None) for k, v in production.items()},
        can_build=principal.role in DATASET_BUILDERS,
    )


@router.get("/ml/datasets")
def datasets_page(request: Request, session: SessionDep, principal: PageUser) -> Response:
    return _datasets_page(request, session, principal)


@router.post("/ml/datasets")
def freeze_dataset(
    request: Request,
    session: SessionDep,
    principal: PageUser,
    storage: StorageDep,
    settings: SettingsDep,
    name: Annotated[str, Form(max_length=100)],
    task: Annotated[str, Form(max_length=32)] = ModelTask.pest.value,
    plot_ids: Annotated[list[int] | None, Form()] = None,
    crop: Annotated[str, Form(max_length=100)] = "",
    since: Annotated[dt.date | None, Form()] = None,
    until: Annotated[dt.date | None, Form()] = None,
    classes: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """``POST /api/v1/datasets`` from a form: the cooperative's reviewed captures, filtered, frozen as the next
    version of ``name``; days are local days (``until`` included)."""
    principal.require(*DATASET_BUILDERS)
    form = {
        "name": name,
        "task": task,
        "plot_ids": plot_ids or [],
        "crop": crop,
        "classes": classes,
        "since": since.isoformat() if since else "",
        "until": until.isoformat() if until else "",
    }
    try:
        body = DatasetBuildIn(
            name=name.strip(),
            task=task,
            plot_ids=plot_ids or None,
            crop=crop.strip() or None,
            since=local_day_bounds(since)[0] if since else None,
            until=local_day_bounds(until)[1] if until else None,
            classes=[c.strip() for c in classes.split(",") if c.strip()] or None,
        )
    except ValidationError as exc:
        return _datasets_page(
            request, session, principal, status=422, form=form, error=_invalid(request, principal, exc)
        )
    try:
        out = learning_api.build_dataset(body, session, principal, storage, settings)
    except ApiError as exc:
        session.rollback()
        if exc.status in (403, 404):
            raise
        return _datasets_page(
            request, session, principal, status=exc.status, form=form, error=_error(request, principal, exc)
        )
    return RedirectResponse(f"/ml/datasets/{out.id}?created=1", status_code=303)


@router.get("/ml/datasets/{dataset_id}")
def dataset_page(
    dataset_id: Id, request: Request, session: SessionDep, principal: PageUser, created: bool = False
) -> Response:
    principal.require(*VIEWERS)
    dv = learning_api._visible_dataset(session, principal, dataset_id)
    runs = session.scalars(
        scoped(TrainingRun, principal).where(TrainingRun.dataset_version_id == dv.id).order_by(TrainingRun.id.desc())
    ).all()
    author = session.get(User, dv.created_by) if dv.created_by else None
    return render(
        request,
        "ml/dataset.html",
        principal,
        it=_dataset_view(dv),
        runs=runs,
        created=created,
        author=author.full_name or author.username if author else None,
        can_train=principal.role in RUN_STARTERS,
    )


@router.get("/ml/datasets/{dataset_id}/preview.jpg")
def dataset_preview(dataset_id: Id, session: SessionDep, principal: PageUser, storage: StorageDep) -> Response:
    """The version's 3×3 mosaic, read from object storage by the server (same scoping as the page)."""
    principal.require(*VIEWERS)
    dv = learning_api._visible_dataset(session, principal, dataset_id)
    if not dv.preview_key:
        raise not_found("preview")
    return _image(storage.get_bytes(dv.preview_key), "image/jpeg")


# training runs -------------------------------------------------------------------------------------------------


def _curve(log: str) -> list[dict]:
    """Validation mAP50 per epoch, from the log lines the training job writes."""
    return [{"epoch": int(m.group(1)), "map50": float(m.group(3))} for m in EPOCH_LINE.finditer(log or "")]


def _runs_page(
    request: Request,
    session,
    principal: Principal,
    *,
    error: str | None = None,
    form: dict | None = None,
    status: int = 200,
) -> Response:
    principal.require(*VIEWERS)
    runs = session.scalars(scoped(TrainingRun, principal).order_by(TrainingRun.id.desc()).limit(100)).all()
    datasets = session.scalars(_visible_datasets(principal).order_by(DatasetVersion.id.desc())).all()
    by_id = {d.id: d for d in datasets}
    bases = session.scalars(
        _visible_models(principal).where(ModelVersion.weights_key.is_not(None)).order_by(ModelVersion.id.desc())
    ).all()
    return render(
        request,
        "ml/runs.html",
        principal,
        status=status,
        runs=runs,
        datasets=datasets,
        by_id=by_id,
        bases=bases,
        error=error,
        form=form or {},
        active=ACTIVE,
        can_train=principal.role in RUN_STARTERS,
    )


@router.get("/ml/runs")
def runs_page(request: Request, session: SessionDep, principal: PageUser, dataset: int | None = None) -> Response:
    return _runs_page(request, session, principal, form={"dataset_version_id": dataset} if dataset else None)


@router.post("/ml/runs")
def start_run(
    request: Request,
    session: SessionDep,
    principal: PageUser,
    dataset_version_id: Annotated[int, Form()],
    base_model_version_id: Annotated[str, Form(max_length=20)] = "",
    epochs: Annotated[int, Form()] = 30,
    imgsz: Annotated[int, Form()] = 320,
    batch: Annotated[int, Form()] = 16,
    seed: Annotated[int, Form()] = 0,
) -> Response:
    """``POST /api/v1/training/runs`` from a form: the run is queued for the training workers."""
    principal.require(*RUN_STARTERS)
    form = {
        "dataset_version_id": dataset_version_id,
        "base_model_version_id": base_model_version_id,
        "epochs": epochs,
        "imgsz": imgsz,
        "batch": batch,
        "seed": seed,
    }
    try:
        body = TrainingRunIn(
            dataset_version_id=dataset_version_id,
            base_model_version_id=int(base_model_version_id) if base_model_version_id else None,
            epochs=epochs,
            imgsz=imgsz,
            batch=batch,
            seed=seed,
        )
    except (ValidationError, ValueError) as exc:
        message = (
            _invalid(request, principal, exc)
            if isinstance(exc, ValidationError)
            else translate("ml_invalid_form", page_locale(request, principal), fields="base_model_version_id")
        )
        return _runs_page(request, session, principal, status=422, form=form, error=message)
    try:
        run = learning_api.start_training(body, request, session, principal)
    except ApiError as exc:
        session.rollback()
        if exc.status in (403, 404):
            raise
        return _runs_page(
            request, session, principal, status=exc.status, form=form, error=_error(request, principal, exc)
        )
    return RedirectResponse(f"/ml/runs/{run.id}", status_code=303)


def _run_context(session, principal: Principal, run_id: int) -> dict[str, Any]:
    principal.require(*VIEWERS)
    run = get_owned(session, TrainingRun, run_id, principal, "training run")
    mv = session.get(ModelVersion, run.model_version_id) if run.model_version_id else None
    metrics = run.metrics or {}
    per_class = sorted((metrics.get("per_class") or {}).values(), key=lambda c: c.get("name", ""))
    return {
        "run": run,
        "dv": session.get(DatasetVersion, run.dataset_version_id),
        "mv": mv,
        "metrics": metrics,
        "per_class": per_class,
        "curve": _curve(run.log),
        "active": run.status in ACTIVE,
        "reports": [n for n in REPORTS if n in (metrics.get("reports") or {})],
    }


@router.get("/ml/runs/{run_id}")
def run_page(run_id: Id, request: Request, session: SessionDep, principal: PageUser) -> Response:
    ctx = _run_context(session, principal, run_id)
    base = session.get(ModelVersion, ctx["run"].base_model_version_id) if ctx["run"].base_model_version_id else None
    return render(request, "ml/run.html", principal, base=base, **ctx)


@router.get("/ml/runs/{run_id}/live")
def run_live(run_id: Id, request: Request, session: SessionDep, principal: PageUser) -> Response:
    """The part of the run page that changes (status, progress, metrics, log): HTMX polls it while the run is
    queued or running; the answer stops carrying the poll trigger once the run is over."""
    return render(request, "ml/_run_live.html", principal, **_run_context(session, principal, run_id))


# models --------------------------------------------------------------------------------------------------------


def _latency(session, principal: Principal) -> dict[int, dict]:
    """Measured inference time per model version on this cooperative's captures."""
    rows = session.execute(
        select(InferenceRun.model_version_id, func.avg(InferenceRun.duration_ms), func.count(InferenceRun.id))
        .where(InferenceRun.cooperative_id == principal.cooperative_id, InferenceRun.duration_ms.is_not(None))
        .group_by(InferenceRun.model_version_id)
    ).all()
    return {mid: {"ms": round(float(avg), 1), "n": n} for mid, avg, n in rows if avg is not None}


def _agreement(session, principal: Principal) -> dict:
    """Weekly precision of the model's detections against reviewers' verdicts: all classes and per class."""
    rows = agreement_over_time(session, cooperative_id=principal.cooperative_id)
    weeks = sorted({r["week"] for r in rows})
    total: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    per_class: dict[str, dict[str, float | None]] = defaultdict(dict)
    for r in rows:
        n = r["confirmed"] + r["rejected"] + r["relabeled"]
        total[r["week"]][0] += r["confirmed"]
        total[r["week"]][1] += n
        per_class[r["class_name"]][r["week"]] = r["precision"]
    overall = [round(total[w][0] / total[w][1], 4) if total[w][1] else None for w in weeks]
    return {
        "weeks": weeks,
        "overall": overall,
        "reviews": [total[w][1] for w in weeks],
        "classes": {name: [v.get(w) for w in weeks] for name, v in sorted(per_class.items())},
        "rows": rows,
    }


def _version_view(
    mv: ModelVersion, prod: ModelVersion | None, latency: dict, tolerance: float, floor: float = 0.10
) -> dict:
    m = mv.metrics or {}
    cand, base = registry.gate_map50(mv)
    gate = None
    if mv.stage in (ModelStage.candidate, ModelStage.shadow, ModelStage.archived) and prod is not None:
        gate = "pass" if registry.gate_passes(cand, base, tolerance=tolerance, floor=floor) else "refuse"
    golden = m.get("golden") or {}
    int8 = (mv.variants or {}).get("int8")
    return {
        "mv": mv,
        "map50": m.get("map50"),
        "map50_95": m.get("map50_95"),
        "precision": m.get("precision"),
        "recall": m.get("recall"),
        "split": m.get("split"),
        "baseline": base,
        "per_class": {c.get("name"): c.get("map50") for c in (m.get("per_class") or {}).values()},
        "reports": [n for n in REPORTS if n in (m.get("reports") or {})],
        "latency": latency.get(mv.id),
        "gate": gate,
        "int8": int8,
        "int8_map50": ((int8 or {}).get("metrics") or {}).get("map50"),
        "history": [_history_entry(h) for h in reversed(mv.history or [])],
        "golden_map50": golden.get("map50") if golden.get("images") else None,
        "golden_images": golden.get("images") or 0,
        "family": mv.family,
        "owner": "shared" if mv.cooperative_id is None else "own",
        "license": m.get("license"),
        "attribution": m.get("attribution"),
        "non_commercial": "NC" in (m.get("license") or ""),
    }


def _history_entry(h: dict) -> dict:
    try:
        at = dt.datetime.fromisoformat(h["at"]) if h.get("at") else None
    except (TypeError, ValueError):
        at = None
    return {**h, "at": at, "action_key": "ml_hist_" + str(h.get("action", "")).replace(" ", "_")}


def _models_page(
    request: Request,
    session,
    principal: Principal,
    settings,
    *,
    error: str | None = None,
    refused: int | None = None,
    done: str | None = None,
    model: int | None = None,
    status: int = 200,
) -> Response:
    principal.require(*VIEWERS)
    locale = page_locale(request, principal)
    names_vi = class_names_vi(request) if locale == "vi" else {}
    latency = _latency(session, principal)
    tasks = []
    versions = session.scalars(_visible_models(principal)).all()
    for task in ModelTask:
        mine = sorted((v for v in versions if v.task == task), key=lambda v: (STAGE_ORDER.get(v.stage, 9), -v.id))
        if not mine:
            continue
        prod = next((v for v in mine if v.stage == ModelStage.production), None)
        views = [
            _version_view(v, prod, latency, settings.promotion_tolerance, settings.promotion_min_map50) for v in mine
        ]
        names: list[str] = []  # in class-id order, production's first
        for v in ([prod] if prod else []) + mine:
            for _, n in sorted((v.classes or {}).items(), key=lambda kv: int(kv[0])):
                if n not in names and (v is prod or any(n in w["per_class"] for w in views)):
                    names.append(n)
        names += sorted({n for v in views for n in v["per_class"]} - set(names))
        shadow = next((v for v in mine if v.stage == ModelStage.shadow), None)
        shadow_report = None
        if shadow is not None:
            from models.shadow import report

            shadow_report = report(session, shadow.id, cooperative_id=principal.cooperative_id)
        best = {
            n: max((v["per_class"].get(n) for v in views if v["per_class"].get(n) is not None), default=None)
            for n in names
        }
        best_overall = max((v["map50"] for v in views if v["map50"] is not None), default=None)
        compared = [v for v in views if v["mv"].stage != ModelStage.archived and v["per_class"]][:5]
        bars = {
            "labels": [names_vi.get(n, n) for n in names],
            "versions": [
                {
                    "label": translate("ml_model_label", locale, name=v["mv"].name, id=v["mv"].id),
                    "stage": v["mv"].stage.value,
                    "data": [v["per_class"].get(n) for n in names],
                }
                for v in compared
            ],
            "axis": translate("ml_map50", locale),
        }
        tasks.append(
            {
                "task": task,
                "versions": views,
                "production": prod,
                "class_names": names,
                "shadow_report": shadow_report,
                "best": best,
                "best_overall": best_overall,
                "bars": bars if compared else None,
            }
        )
    user_ids = {h.get("by") for task in tasks for v in task["versions"] for h in v["history"] if h.get("by")}
    users = (
        {u.id: u.full_name or u.username for u in session.scalars(select(User).where(User.id.in_(user_ids)))}
        if user_ids
        else {}
    )
    agreement = _agreement(session, principal)
    chart = {
        "weeks": agreement["weeks"],
        "overall": agreement["overall"],
        "reviews": agreement["reviews"],
        "classes": {names_vi.get(name, name): vals for name, vals in agreement["classes"].items()},
        "labels": {
            "overall": translate("ml_agreement_all", locale),
            "y": translate("ml_agreement_axis", locale),
            "reviews": translate("ml_agreement_reviews", locale),
        },
    }
    done_mv = session.get(ModelVersion, model) if model and done else None
    return render(
        request,
        "ml/models.html",
        principal,
        status=status,
        tasks=tasks,
        error=error,
        refused=refused,
        done=done,
        done_mv=done_mv,
        users=users,
        agreement=agreement,
        chart=chart,
        tolerance=settings.promotion_tolerance,
        can_act=principal.role in REGISTRY_ADMINS,
    )


@router.get("/ml/models")
def models_page(
    request: Request,
    session: SessionDep,
    principal: PageUser,
    settings: SettingsDep,
    done: str | None = None,
    model: int | None = None,
) -> Response:
    return _models_page(
        request,
        session,
        principal,
        settings,
        done=done if done in ("promoted", "rolled_back", "shadow_started", "shadow_stopped") else None,
        model=model,
    )


def _registry_action(
    request: Request, session, principal: Principal, settings, model_id: int, action, done: str
) -> Response:
    principal.require(*REGISTRY_ADMINS)
    _visible_model(session, principal, model_id)
    try:
        action()
    except ApiError as exc:
        session.rollback()
        if exc.status in (403, 404):
            raise
        return _models_page(
            request,
            session,
            principal,
            settings,
            status=exc.status,
            model=model_id,
            error=_error(request, principal, exc),
            refused=model_id if exc.code == "gate_refused" else None,
        )
    return RedirectResponse(f"/ml/models?done={done}&model={model_id}#model-{model_id}", status_code=303)


@router.post("/ml/models/{model_id}/promote")
def promote(
    model_id: Id,
    request: Request,
    session: SessionDep,
    principal: PageUser,
    settings: SettingsDep,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Through the gate; refused, the page shows why and a field for the written reason that overrides it."""
    return _registry_action(
        request,
        session,
        principal,
        settings,
        model_id,
        lambda: learning_api.promote_model(
            model_id, PromoteIn(reason=reason.strip() or None), session, principal, settings
        ),
        "promoted",
    )


@router.post("/ml/models/{model_id}/rollback")
def rollback(
    model_id: Id,
    request: Request,
    session: SessionDep,
    principal: PageUser,
    settings: SettingsDep,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    return _registry_action(
        request,
        session,
        principal,
        settings,
        model_id,
        lambda: learning_api.rollback_model(model_id, PromoteIn(reason=reason.strip() or None), session, principal),
        "rolled_back",
    )


@router.post("/ml/models/{model_id}/shadow/start")
def shadow_start(
    model_id: Id, request: Request, session: SessionDep, principal: PageUser, settings: SettingsDep
) -> Response:
    return _registry_action(
        request,
        session,
        principal,
        settings,
        model_id,
        lambda: learning_api.start_shadow(model_id, session, principal),
        "shadow_started",
    )


@router.post("/ml/models/{model_id}/shadow/stop")
def shadow_stop(
    model_id: Id, request: Request, session: SessionDep, principal: PageUser, settings: SettingsDep
) -> Response:
    return _registry_action(
        request,
        session,
        principal,
        settings,
        model_id,
        lambda: learning_api.stop_shadow(model_id, session, principal),
        "shadow_stopped",
    )


@router.get("/ml/models/{model_id}/reports/{name}.png")
def model_report(model_id: Id, name: str, session: SessionDep, principal: PageUser, storage: StorageDep) -> Response:
    """A picture from the version's evaluation (confusion matrix, PR curve), read by the server from storage."""
    principal.require(*VIEWERS)
    mv = _visible_model(session, principal, model_id)
    key = ((mv.metrics or {}).get("reports") or {}).get(name) if name in REPORTS else None
    if key is None:
        raise not_found("report")
    return _image(storage.get_bytes(key), "image/png")
