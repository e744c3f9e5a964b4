"""The agronomist's pages: the review queue and the annotator (keyboard and mouse), pest pressure over time per
plot and per cooperative with the rule thresholds drawn, a grid of plots coloured by today's pressure, and the
alert rules."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from api.deps import Principal, SessionDep, SettingsDep
from api.errors import ApiError
from api.routers.review import READERS, REVIEWERS
from api.routers.rules import EDITORS, normalize_rule
from api.schemas import Id
from api.scoping import get_owned, scoped
from api.web.render import class_names_vi, render, translate
from api.web.session import PageUser, csrf_protect, page_locale
from cropwatch.alerts.counts import UNITS, daily_figures
from cropwatch.alerts.rule_text import rule_label
from cropwatch.alerts.rules import FRUIT_CLASSES
from cropwatch.core.enums import AlertLevel, CaptureStatus, ModelStage, ReviewState, Role
from cropwatch.core.orm import AlertRule, Camera, Capture, ModelVersion, Plot
from cropwatch.core.timeutil import local_day, utcnow
from cropwatch.review import actions as review
from models import registry

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])
PRESSURE_DAYS = 30
RULE_KINDS = ("threshold", "trend", "seasonal", "silence", "harvest_window")


def _production_classes(session) -> list[str]:
    names: list[str] = []
    for mv in session.scalars(
        select(ModelVersion).where(ModelVersion.stage == ModelStage.production).order_by(ModelVersion.task)
    ):
        names += [n for _, n in sorted(mv.classes.items(), key=lambda kv: int(kv[0])) if n not in names]
    return names


# review -------------------------------------------------------------------------------------------------------


@router.get("/review")
def review_queue_page(
    request: Request,
    session: SessionDep,
    principal: PageUser,
    settings: SettingsDep,
    plot_id: Annotated[int | None, Query()] = None,
    class_name: Annotated[str | None, Query(max_length=100)] = None,
    min_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    max_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    done: bool = False,
) -> Response:
    principal.require(*READERS)
    items = review.queue(
        session,
        cooperative_id=principal.cooperative_id,
        threshold=settings.review_threshold,
        limit=100,
        plot_id=plot_id,
        class_name=class_name or None,
        min_score=min_score,
        max_score=max_score,
        salt=str(local_day(utcnow())),
    )
    plots = {p.id: p for p in session.scalars(scoped(Plot, principal).order_by(Plot.name))}
    return render(
        request,
        "agronomist/queue.html",
        principal,
        items=items,
        plots=plots,
        classes=_production_classes(session),
        done=done,
        f={"plot_id": plot_id, "class_name": class_name or "", "min_score": min_score, "max_score": max_score},
    )


def _next_in_queue(session, principal: Principal, settings, skip: int | None) -> int | None:
    items = review.queue(
        session,
        cooperative_id=principal.cooperative_id,
        threshold=settings.review_threshold,
        limit=5,
        salt=str(local_day(utcnow())),
    )
    return next((i.capture_id for i in items if i.capture_id != skip), None)


@router.get("/review/next")
def review_next(session: SessionDep, principal: PageUser, settings: SettingsDep, skip: int | None = None) -> Response:
    principal.require(*READERS)
    nxt = _next_in_queue(session, principal, settings, skip)
    return RedirectResponse(f"/review/{nxt}" if nxt else "/review?done=1", status_code=303)


def _state(session, cap: Capture) -> dict:
    dets = sorted(cap.detections, key=lambda d: (d.review_state == ReviewState.rejected, -d.score, d.id))
    counts = Counter(d.class_name for d in dets if d.review_state != ReviewState.rejected)
    return {
        "capture_id": cap.id,
        "width": cap.width,
        "height": cap.height,
        "detections": [
            {
                "id": d.id,
                "class_name": d.class_name,
                "score": round(d.score, 3),
                "box": [d.x1, d.y1, d.x2, d.y2],
                "state": d.review_state.value,
                "source": d.source.value,
            }
            for d in dets
        ],
        "counts": dict(sorted(counts.items())),
    }


@router.get("/review/{capture_id}")
def annotator(capture_id: Id, request: Request, session: SessionDep, principal: PageUser) -> Response:
    principal.require(*READERS)
    cap = get_owned(session, Capture, capture_id, principal, "capture")
    camera = session.get(Camera, cap.camera_id)
    classes = sorted(review.class_ids(session, cap).items(), key=lambda kv: kv[1])
    locale = page_locale(request, principal)
    names = class_names_vi(request) if locale == "vi" else {}
    state = _state(session, cap)
    review_data = {
        "state": state,
        "classes": [name for name, _ in classes],
        # every name on the page in the reader's language: the keyboard's classes and any already on the photo
        "labels": {
            name: names.get(name, name) for name in {n for n, _ in classes} | {d.class_name for d in cap.detections}
        },
        "can_review": principal.role in REVIEWERS,
        "text": {k: translate(f"state_{k}", locale) for k in ("confirmed", "rejected", "relabeled", "unreviewed")}
        | {"saved": translate("saved_ok", locale)},
    }
    return render(
        request,
        "agronomist/annotator.html",
        principal,
        capture=cap,
        camera=camera.name if camera else "",
        plot=session.get(Plot, cap.plot_id),
        review_data=review_data,
        classes=[name for name, _ in classes],
        can_review=principal.role in REVIEWERS,
        processed=cap.status == CaptureStatus.done,
    )


class ActIn(BaseModel):
    action: str = Field(max_length=32)
    detection_id: int | None = None
    class_name: str | None = Field(default=None, max_length=100)
    box: list[float] | None = Field(default=None, min_length=4, max_length=4)
    note: str | None = Field(default=None, max_length=2000)


@router.post("/review/{capture_id}/act")
def annotator_act(capture_id: Id, body: ActIn, request: Request, session: SessionDep, principal: PageUser) -> Response:
    """One review action from the annotator (JSON in, the capture's new state out); the same service as the API."""
    principal.require(*REVIEWERS)
    cap = get_owned(session, Capture, capture_id, principal, "capture")
    locale = page_locale(request, principal)
    if cap.status != CaptureStatus.done:
        return JSONResponse({"error": translate("review_not_processed", locale)}, status_code=409)
    try:
        review.apply(
            session,
            capture=cap,
            user_id=principal.user.id,
            action=review.Action(body.action),
            detection_id=body.detection_id,
            class_name=body.class_name,
            box=review.Box(*body.box) if body.box else None,
            note=body.note,
        )
    except ValueError as exc:  # ReviewError, or an unknown action
        session.rollback()
        code = getattr(exc, "code", "review_bad_action")
        params = getattr(exc, "params", {"actions": ", ".join(a.value for a in review.Action)})
        return JSONResponse(
            {"error": translate(code, locale, **params)}, status_code=404 if code == "not_found" else 422
        )
    session.commit()
    session.expire_all()
    return JSONResponse(_state(session, get_owned(session, Capture, capture_id, principal, "capture")))


# pest pressure ------------------------------------------------------------------------------------------------


PRESSURE_MIN_SCORE = 0.25  # the rules' default minimum score


def _daily_counts(session, days: list[dt.date], plot_ids: list[int], unit: str | None = None) -> dict:
    """{plot_id: {class: {day: figure}}}: the pests' daily figures as the alerts count them
    (:mod:`cropwatch.alerts.counts`: new catches per trap, the highest photo of a garden camera), fruit classes out."""
    figures = daily_figures(session, plot_ids=plot_ids, days=days, min_score=PRESSURE_MIN_SCORE, unit=unit)
    out: dict = defaultdict(dict)
    for (plot_id, name), per_day in figures.items():
        if name not in FRUIT_CLASSES:
            out[plot_id][name] = {d: f.value for d, f in per_day.items()}
    return out


@router.get("/pressure")
def pressure_page(
    request: Request,
    session: SessionDep,
    principal: PageUser,
    plot_id: Annotated[int | None, Query()] = None,
    days: Annotated[int, Query(ge=7, le=120)] = PRESSURE_DAYS,
) -> Response:
    principal.require(Role.agronomist, Role.coop_admin, Role.ml_engineer, Role.union_admin)
    plots = list(session.scalars(scoped(Plot, principal).order_by(Plot.name)))
    selected = get_owned(session, Plot, plot_id, principal, "plot") if plot_id is not None else None
    today = local_day(utcnow())
    day_list = [today - dt.timedelta(days=i) for i in range(days - 1, -1, -1)]
    plot_ids = [p.id for p in plots]
    counts = _daily_counts(session, day_list, plot_ids)
    rules = list(
        session.scalars(scoped(AlertRule, principal).where(AlertRule.enabled.is_(True), AlertRule.kind == "threshold"))
    )
    # grid: today's highest level reached per plot, each rule read in its own unit
    today_by_unit = {u: _daily_counts(session, [today], plot_ids, u) for u in {r.unit for r in rules}}
    severity = {AlertLevel.watch: 1, AlertLevel.warning: 2, AlertLevel.danger: 3}
    tiles = []
    for p in plots:
        level = None
        total = sum(per_day.get(today, 0) for per_day in counts.get(p.id, {}).values())
        for r in rules:
            n = today_by_unit[r.unit].get(p.id, {}).get(r.class_name, {}).get(today, 0)
            if r.crop in (None, p.crop) and n >= r.threshold and severity[r.level] > severity.get(level, 0):
                level = r.level
        tiles.append({"plot": p, "level": level.value if level else "ok", "today": total})

    locale = page_locale(request, principal)
    names = class_names_vi(request) if locale == "vi" else {}

    def series(per_class: dict) -> list[dict]:
        return [
            {"name": name, "label": names.get(name, name), "data": [per_day.get(d, 0) for d in day_list]}
            for name, per_day in sorted(per_class.items())
        ]

    coop_total: dict = defaultdict(Counter)  # the sum of the plots' daily figures
    for per_class in counts.values():
        for name, per_day in per_class.items():
            coop_total[name].update(per_day)
    plot_series = series(counts.get(selected.id, {})) if selected else []
    thresholds = [
        {
            "name": r.class_name,
            "label": names.get(r.class_name, r.class_name),
            "level": r.level.value,
            "value": r.threshold,
        }
        for r in rules
        if selected and r.crop in (None, selected.crop) and (r.class_name in {s["name"] for s in plot_series})
    ]
    chart = {
        "labels": [d.strftime("%d/%m") for d in day_list],
        "coop": series(coop_total),
        "plot": plot_series,
        "thresholds": thresholds,
        "text": {lv: translate(f"level_{lv}", locale) for lv in ("watch", "warning", "danger")},
    }
    return render(
        request,
        "agronomist/pressure.html",
        principal,
        plots=plots,
        selected=selected,
        tiles=tiles,
        chart=chart,
        days=days,
    )


# alert rules --------------------------------------------------------------------------------------------------


def _rules_page(
    request: Request,
    session,
    principal: Principal,
    *,
    error: str | None = None,
    saved: bool = False,
    status: int = 200,
    typed: dict | None = None,
) -> Response:
    rules = list(session.scalars(scoped(AlertRule, principal).order_by(AlertRule.class_name, AlertRule.threshold)))
    crops = sorted({p.crop for p in session.scalars(scoped(Plot, principal))})
    locale = page_locale(request, principal)
    classes = registry.production_classes(session, principal.cooperative_id)
    labels = {r.id: rule_label(r, locale, classes) for r in rules}
    return render(
        request,
        "agronomist/rules.html",
        principal,
        status=status,
        rules=rules,
        error=error,
        saved=saved,
        classes=list(classes),
        crops=crops,
        levels=[lv.value for lv in AlertLevel],
        labels=labels,
        kinds=RULE_KINDS,
        units=UNITS,
        can_edit=principal.role in EDITORS,
        typed=typed or {},
    )


@router.get("/rules")
def rules_page(request: Request, session: SessionDep, principal: PageUser, saved: bool = False) -> Response:
    return _rules_page(request, session, principal, saved=saved)


def _params(
    kind: str,
    rise_pct: float | None,
    hours: float | None,
    share: float | None,
    target: float | None,
    days: int | None,
    margin_pct: float | None = None,
) -> dict | None:
    if kind == "trend":
        return {"rise_pct": rise_pct or 50}
    if kind == "seasonal":
        return {"margin_pct": margin_pct or 0}
    if kind == "silence":
        return {"hours": hours or 6}
    if kind == "harvest_window":
        return {"share": share if share is not None else 0.3, "target": target or 0.8, "days": days or 7}
    return None


@router.post("/rules")
def add_rule(
    request: Request,
    session: SessionDep,
    principal: PageUser,
    class_name: Annotated[str, Form(min_length=1, max_length=100)],
    threshold: Annotated[int, Form(ge=1, le=100000)],
    level: Annotated[AlertLevel, Form()] = AlertLevel.warning,
    kind: Annotated[str, Form(pattern="^(threshold|trend|seasonal|silence|harvest_window)$")] = "threshold",
    crop: Annotated[str | None, Form(max_length=100)] = None,
    min_score: Annotated[float, Form(ge=0, le=1)] = 0.25,
    cooldown_minutes: Annotated[int, Form(ge=0, le=60 * 24 * 30)] = 360,
    name: Annotated[str, Form(max_length=200)] = "",
    rise_pct: Annotated[float | None, Form(ge=1, le=10000)] = None,
    margin_pct: Annotated[float | None, Form(ge=0, le=10000)] = None,
    hours: Annotated[float | None, Form(gt=0, le=24 * 30)] = None,
    share: Annotated[float | None, Form(ge=0, le=1)] = None,
    target: Annotated[float | None, Form(gt=0, le=1)] = None,
    days: Annotated[int | None, Form(ge=1, le=90)] = None,
    unit: Annotated[str, Form(pattern="^(|trap_day|sample)$")] = "",
) -> Response:
    principal.require(*EDITORS)
    try:
        class_name = normalize_rule(
            session, principal.cooperative_id, kind=kind, class_name=class_name, unit=unit or None
        )
    except ApiError as exc:  # the form again, with what was typed and why
        locale = page_locale(request, principal)
        return _rules_page(
            request,
            session,
            principal,
            error=translate(exc.code, locale, **exc.params),
            status=422,
            typed={
                "class_name": class_name,
                "threshold": threshold,
                "kind": kind,
                "unit": unit,
                "name": name,
                "level": level.value,
            },
        )
    session.add(
        AlertRule(
            cooperative_id=principal.cooperative_id,
            class_name=class_name,
            threshold=threshold,
            level=level,
            kind=kind,
            crop=crop or None,
            min_score=min_score,
            cooldown_minutes=cooldown_minutes,
            name=name,
            unit=unit or None,
            params=_params(kind, rise_pct, hours, share, target, days, margin_pct),
        )
    )
    session.commit()
    return RedirectResponse("/rules?saved=1", status_code=303)


@router.post("/rules/{rule_id}")
def edit_rule(
    rule_id: Id,
    session: SessionDep,
    principal: PageUser,
    threshold: Annotated[int, Form(ge=1, le=100000)],
    level: Annotated[AlertLevel, Form()],
    min_score: Annotated[float, Form(ge=0, le=1)],
    cooldown_minutes: Annotated[int, Form(ge=0, le=60 * 24 * 30)],
    enabled: Annotated[bool, Form()] = False,
    unit: Annotated[str | None, Form(pattern="^(|trap_day|sample)$")] = None,
) -> Response:
    principal.require(*EDITORS)
    rule = get_owned(session, AlertRule, rule_id, principal, "alert rule")
    rule.threshold, rule.level, rule.min_score, rule.cooldown_minutes, rule.enabled = (
        threshold,
        level,
        min_score,
        cooldown_minutes,
        enabled,
    )
    if unit is not None and rule.kind in ("threshold", "trend", "seasonal"):
        rule.unit = unit or None
    session.commit()
    return RedirectResponse(f"/rules?saved=1#rule-{rule.id}", status_code=303)
