"""The farmer's pages (phone first): today's alerts with their evidence photo, a capture's photo with boxes,
my plots with a status badge, a plot's diary as a timeline with a photo entry, a diary entry with its change history
(edit and delete for manual entries), harvest lots with QR labels."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, or_, select

from api.deps import Principal, SessionDep, SettingsDep, StorageDep
from api.errors import ApiError
from api.routers import diary as diary_api
from api.routers.cameras import TRAP_MARKERS
from api.routers.lots import LotIn, new_lot
from api.routers.lots import _public_url as lot_link
from api.schemas import Id
from api.scoping import get_owned, scoped
from api.web.render import render, translate
from api.web.session import PageUser, csrf_protect, page_locale
from cropwatch.accounts.visibility import own_plot_ids
from cropwatch.alerts import rules as alert_logic
from cropwatch.alerts.counts import daily_figures
from cropwatch.alerts.traps import NotATrap, record_trap_change
from cropwatch.captures.ingest import IngestError
from cropwatch.core.enums import (
    AlertLevel,
    AlertStatus,
    CameraKind,
    CaptureStatus,
    DiarySource,
    DiaryStatus,
    DiaryType,
    Role,
)
from cropwatch.core.orm import Alert, Camera, Capture, DiaryEntry, HarvestLot, Plot, TrapChange
from cropwatch.core.timeutil import LOCAL_TZ, local_day, local_day_bounds, utcnow
from cropwatch.diary import chain
from cropwatch.diary import entries as diary
from cropwatch.diary.lots import qr_png, qr_svg

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])
SEVERITY = {AlertLevel.danger: 0, AlertLevel.warning: 1, AlertLevel.watch: 2}
SNOOZE_HOURS = (2, 24, 72)
WRITERS = (Role.member, Role.agronomist, Role.coop_admin)


def visible_plots(session, principal: Principal) -> list[Plot]:
    """A farmer sees the plots of the farms they own (all of the cooperative's when they own none); staff see all."""
    plots = list(session.scalars(scoped(Plot, principal).order_by(Plot.name)))
    ids = own_plot_ids(session, principal.cooperative_id, principal.user.id, principal.role)
    return plots if ids is None else [p for p in plots if p.id in ids]


def _alert_view(session, alert: Alert, plots: dict[int, Plot]) -> dict:
    capture = session.get(Capture, alert.evidence_capture_id) if alert.evidence_capture_id else None
    camera = session.get(Camera, capture.camera_id) if capture else None
    return {
        "alert": alert,
        "plot": plots.get(alert.plot_id) or session.get(Plot, alert.plot_id),
        "capture": capture if capture and capture.status == CaptureStatus.done else None,
        "camera": camera.name if camera else "",
        "detections": sorted(
            [d for d in capture.detections if d.class_name == alert.class_name], key=lambda d: -d.score
        )
        if capture
        else [],
    }


@router.get("/alerts")
def alerts_page(request: Request, session: SessionDep, principal: PageUser, settings: SettingsDep) -> Response:
    """The open alerts, worst first; the page fetches its cards again every ``alerts_refresh_seconds`` (htmx),
    and the unread badge follows."""
    plots = {p.id: p for p in visible_plots(session, principal)}
    q = (
        scoped(Alert, principal)
        .where(Alert.plot_id.in_(plots), Alert.status != AlertStatus.resolved)
        .where(or_(Alert.snoozed_until.is_(None), Alert.snoozed_until <= utcnow()))
    )
    found = sorted(
        session.scalars(q.limit(200)),
        key=lambda a: (a.status != AlertStatus.open, SEVERITY.get(a.level, 9), -a.updated_at.timestamp()),
    )
    template = "farmer/_alert_list.html" if request.headers.get("HX-Request") else "farmer/alerts.html"
    return render(
        request,
        template,
        principal,
        items=[_alert_view(session, a, plots) for a in found],
        snooze_hours=SNOOZE_HOURS,
        refresh_s=settings.alerts_refresh_seconds,
    )


def open_alert_count(session, principal: Principal) -> int:
    """The unread badge: open (not yet acknowledged) alerts on the plots the user sees, snoozed ones left out."""
    plots = [p.id for p in visible_plots(session, principal)]
    q = (
        scoped(Alert, principal)
        .where(Alert.plot_id.in_(plots), Alert.status == AlertStatus.open)
        .where(or_(Alert.snoozed_until.is_(None), Alert.snoozed_until <= utcnow()))
    )
    return session.scalar(q.with_only_columns(func.count(Alert.id)).order_by(None)) or 0


def _card(request: Request, session, principal: Principal, alert: Alert) -> Response:
    return render(
        request, "farmer/_alert_card.html", principal, it=_alert_view(session, alert, {}), snooze_hours=SNOOZE_HOURS
    )


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge(alert_id: Id, request: Request, session: SessionDep, principal: PageUser) -> Response:
    alert = get_owned(session, Alert, alert_id, principal, "alert")
    if alert.status == AlertStatus.open:
        alert.status, alert.acknowledged_by, alert.acknowledged_at = (
            AlertStatus.acknowledged,
            principal.user.id,
            utcnow(),
        )
        session.commit()
    return _card(request, session, principal, alert)


@router.post("/alerts/{alert_id}/snooze")
def snooze(
    alert_id: Id,
    request: Request,
    session: SessionDep,
    principal: PageUser,
    hours: Annotated[int, Form(ge=1, le=24 * 14)],
) -> Response:
    alert = get_owned(session, Alert, alert_id, principal, "alert")
    alert.snoozed_until = utcnow() + dt.timedelta(hours=hours)
    session.commit()
    return _card(request, session, principal, alert)


@router.get("/captures/{capture_id}")
def capture_page(
    capture_id: Id, request: Request, session: SessionDep, principal: PageUser, flagged: bool = False
) -> Response:
    cap = get_owned(session, Capture, capture_id, principal, "capture")
    camera = session.get(Camera, cap.camera_id)
    return render(
        request,
        "farmer/capture.html",
        principal,
        capture=cap,
        camera=camera.name if camera else "",
        plot=session.get(Plot, cap.plot_id),
        flagged=flagged,
        detections=sorted(cap.detections, key=lambda d: -d.score),
    )


@router.post("/captures/{capture_id}/flag")
def flag_capture(
    capture_id: Id, session: SessionDep, principal: PageUser, note: Annotated[str, Form(max_length=2000)] = ""
) -> Response:
    """A farmer's "please check": the capture goes first in the agronomists' review queue."""
    cap = get_owned(session, Capture, capture_id, principal, "capture")
    cap.flagged_at, cap.flag_note = utcnow(), note or None
    session.commit()
    return RedirectResponse(f"/captures/{capture_id}?flagged=1", status_code=303)


def _plot_status(session, plot: Plot, today: dt.date, min_score: float) -> dict:
    worst = session.scalars(
        select(Alert).where(
            Alert.plot_id == plot.id,
            Alert.status != AlertStatus.resolved,
            Alert.local_day >= today - dt.timedelta(days=1),
        )
    ).all()
    level = min((a.level for a in worst), key=lambda lv: SEVERITY.get(lv, 9), default=None)
    # today's figures as the alerts count them (new catches per trap, the highest photo of a camera), summed
    figures = daily_figures(session, plot_ids=[plot.id], days=[today], min_score=min_score)
    pests = sum(
        per_day[today].value
        for (_, name), per_day in figures.items()
        if name not in alert_logic.FRUIT_CLASSES and today in per_day
    )
    ripe = alert_logic.ripe_share(session, plot_id=plot.id, day=today, min_score=min_score)
    traps = list(
        session.scalars(
            select(Camera).where(Camera.plot_id == plot.id, Camera.kind == CameraKind.sticky_trap).order_by(Camera.id)
        )
    )
    last_change = {
        cam: at
        for cam, at in session.execute(
            select(TrapChange.camera_id, func.max(TrapChange.changed_at))
            .where(TrapChange.camera_id.in_([c.id for c in traps]))
            .group_by(TrapChange.camera_id)
        )
    }
    return {
        "plot": plot,
        "level": level.value if level else None,
        "pests": pests,
        "ripe_pct": round(ripe[0] * 100) if ripe else None,
        "fruit": ripe[1] if ripe else 0,
        "traps": [{"camera": c, "changed_at": last_change.get(c.id)} for c in traps],
    }


@router.post("/cameras/{camera_id}/trap-change")
def mark_trap_change(camera_id: Id, session: SessionDep, principal: PageUser) -> Response:
    """The farmer's one tap "Đã thay bẫy": the trap's count starts again from zero now."""
    principal.require(*TRAP_MARKERS)
    cam = get_owned(session, Camera, camera_id, principal, "camera")
    try:
        record_trap_change(session, cam, principal.user.id)
    except NotATrap:
        raise ApiError(422, "not_a_trap") from None
    return RedirectResponse(f"/plots?trap_changed={cam.id}#plot-{cam.plot_id}", status_code=303)


@router.get("/plots")
def plots_page(
    request: Request, session: SessionDep, principal: PageUser, settings: SettingsDep, trap_changed: Id | None = None
) -> Response:
    today = local_day(utcnow())
    rows = [_plot_status(session, p, today, 0.25) for p in visible_plots(session, principal)]
    return render(request, "farmer/plots.html", principal, rows=rows, trap_changed=trap_changed)


#: the diary form's fields besides type and day (the new-entry form and the edit form)
FORM_FIELDS = ("title", "notes", "product_name", "dose", "phi_days", "quantity_value", "quantity_unit")


def _form_values(**values: object) -> dict[str, str]:
    """What a form shows back: text as typed, numbers without a trailing .0, nothing for None."""
    out = {}
    for key, value in values.items():
        if hasattr(value, "value"):
            value = value.value
        out[key] = "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
    return out


def _blank_form(day: dt.date) -> dict[str, str]:
    return _form_values(
        type=DiaryType.observation,
        day=day.isoformat(),
        reason=None,
        phi_override_reason=None,
        **dict.fromkeys(FORM_FIELDS),
    )


def _occurred_at(day: dt.date | None) -> dt.datetime:
    """The moment a diary day stands for: now for today, noon local time for a past day."""
    now = utcnow()
    return now if day is None or day == local_day(now) else local_day_bounds(day)[0] + dt.timedelta(hours=12)


def _diary_page(
    request: Request,
    session,
    principal: Principal,
    plot: Plot,
    *,
    error: str | None = None,
    saved: bool = False,
    deleted: bool = False,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    entries = list(
        session.scalars(
            scoped(DiaryEntry, principal)
            .where(DiaryEntry.plot_id == plot.id, DiaryEntry.deleted_at.is_(None))
            .order_by(DiaryEntry.occurred_at.desc(), DiaryEntry.id.desc())
            .limit(200)
        )
    )
    recent = list(
        session.scalars(
            scoped(Capture, principal)
            .where(Capture.plot_id == plot.id, Capture.status == CaptureStatus.done)
            .order_by(Capture.captured_at.desc())
            .limit(6)
        )
    )
    return render(
        request,
        "farmer/plot.html",
        principal,
        status=status,
        plot=plot,
        entries=entries,
        recent=recent,
        types=list(DiaryType),
        error=error,
        saved=saved,
        deleted=deleted,
        today=local_day(utcnow()).isoformat(),
        can_write=principal.role in WRITERS,
        can_override=principal.role in (Role.agronomist, Role.coop_admin),
        form=form or _blank_form(local_day(utcnow())),
    )


@router.get("/plots/{plot_id}")
def plot_page(
    plot_id: Id, request: Request, session: SessionDep, principal: PageUser, saved: bool = False, deleted: bool = False
) -> Response:
    return _diary_page(
        request, session, principal, get_owned(session, Plot, plot_id, principal, "plot"), saved=saved, deleted=deleted
    )


def season_start(plot: Plot, today: dt.date) -> dt.date:
    """The export's default period starts at planting (or a year back when the plot has no planting date)."""
    return plot.planting_date if plot.planting_date and plot.planting_date <= today else today - dt.timedelta(days=365)


@router.get("/plots/{plot_id}/diary.{fmt}")
def download_diary(
    plot_id: Id,
    fmt: str,
    request: Request,
    session: SessionDep,
    principal: PageUser,
    storage: StorageDep,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> Response:
    """The season's diary from the plot page (PDF for the VietGAP audit, Excel, CSV) in the reader's language: the
    API's export with the page's session."""
    if fmt not in ("pdf", "xlsx", "csv"):
        raise ApiError(404, "not_found", what=fmt)
    plot = get_owned(session, Plot, plot_id, principal, "plot")
    today = local_day(utcnow())
    lang = page_locale(request, principal)
    return diary_api.export_diary(
        session=session,
        principal=principal,
        storage=storage,
        plot_id=plot.id,
        since=since or season_start(plot, today),
        until=until or today,
        format=fmt,
        lang=lang,
    )


@router.post("/plots/{plot_id}/diary")
async def add_diary_entry(
    plot_id: int,
    request: Request,
    session: SessionDep,
    principal: PageUser,
    storage: StorageDep,
    settings: SettingsDep,
    type: Annotated[DiaryType, Form()],
    day: Annotated[dt.date | None, Form()] = None,
    title: Annotated[str, Form(max_length=300)] = "",
    notes: Annotated[str, Form(max_length=10000)] = "",
    product_name: Annotated[str | None, Form(max_length=200)] = None,
    dose: Annotated[str | None, Form(max_length=100)] = None,
    phi_days: Annotated[int | None, Form(ge=0, le=365)] = None,
    quantity_value: Annotated[float | None, Form(ge=0)] = None,
    quantity_unit: Annotated[str | None, Form(max_length=32)] = None,
    phi_override_reason: Annotated[str | None, Form(max_length=2000)] = None,
    photos: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    """The same checks as ``POST /api/v1/diary`` (role, plot scope, photo checks, pre-harvest interval guard,
    no empty entry); a refusal re-shows the form with what was typed and the reason."""
    plot = get_owned(session, Plot, plot_id, principal, "plot")
    photos = [p for p in photos or [] if p.filename]  # an empty file input still sends one empty part
    occurred = _occurred_at(day)
    typed = _form_values(
        type=type,
        day=(day or local_day(occurred)).isoformat(),
        title=title,
        notes=notes,
        product_name=product_name,
        dose=dose,
        phi_days=phi_days,
        quantity_value=quantity_value,
        quantity_unit=quantity_unit,
        phi_override_reason=phi_override_reason,
    )
    try:
        await diary_api.create_entry(
            session=session,
            principal=principal,
            storage=storage,
            settings=settings,
            plot_id=plot.id,
            type=type,
            occurred_at=occurred,
            status=DiaryStatus.done,
            title=title,
            notes=notes,
            quantity_value=quantity_value,
            quantity_unit=quantity_unit or None,
            product_name=product_name or None,
            registration_no=None,
            active_ingredient=None,
            dose=dose or None,
            treated_area_m2=None,
            operator=None,
            phi_days=phi_days,
            phi_override_reason=phi_override_reason or None,
            photos=photos,
        )
    except ApiError as exc:
        session.rollback()
        return _diary_page(
            request,
            session,
            principal,
            plot,
            status=exc.status,
            form=typed,
            error=translate(exc.code, page_locale(request, principal), **exc.params),
        )
    except IngestError as exc:
        session.rollback()
        return _diary_page(
            request,
            session,
            principal,
            plot,
            status=exc.status,
            form=typed,
            error=translate(exc.key, page_locale(request, principal), **exc.params),
        )
    return RedirectResponse(f"/plots/{plot.id}?saved=1", status_code=303)


@router.post("/diary/{entry_id}/done")
def diary_done(entry_id: Id, session: SessionDep, principal: PageUser) -> Response:
    entry = diary_api.mark_done(entry_id, session, principal)
    return RedirectResponse(f"/plots/{entry.plot_id}", status_code=303)


# a diary entry: its change history, edit and delete ------------------------------------------------------------


def _entry_page(
    request: Request,
    session,
    principal: Principal,
    entry: DiaryEntry,
    *,
    error: str | None = None,
    saved: bool = False,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    """The entry, its revisions (who, when, field: before → after) in the reader's language, and for a manual
    entry not yet deleted the edit form (prefilled) and the delete button (asks first; a reason may be given)."""
    history = diary.history(session, entry, page_locale(request, principal))
    deleted = next((h for h in reversed(history) if h.action == "deleted"), None) if entry.deleted_at else None
    editable = principal.role in WRITERS and entry.source == DiarySource.manual and entry.deleted_at is None
    if form is None:
        form = _form_values(
            type=entry.type,
            day=local_day(entry.occurred_at).isoformat(),
            reason=None,
            phi_override_reason=None,
            **{name: getattr(entry, name) for name in FORM_FIELDS},
        )
    return render(
        request,
        "farmer/entry.html",
        principal,
        status=status,
        entry=entry,
        plot=session.get(Plot, entry.plot_id),
        history=history,
        deleted=deleted,
        editable=editable,
        can_write=principal.role in WRITERS,
        types=list(DiaryType),
        form=form,
        error=error,
        saved=saved,
        today=local_day(utcnow()).isoformat(),
        can_override=principal.role in (Role.agronomist, Role.coop_admin),
    )


@router.get("/diary/{entry_id}")
def entry_page(
    entry_id: Id, request: Request, session: SessionDep, principal: PageUser, saved: bool = False
) -> Response:
    """Deleted entries stay readable here by their link (the audit trail); lists no longer show them."""
    entry = get_owned(session, DiaryEntry, entry_id, principal, "diary entry")
    return _entry_page(request, session, principal, entry, saved=saved)


@router.post("/diary/{entry_id}/edit")
async def edit_diary_entry(
    entry_id: Id,
    request: Request,
    session: SessionDep,
    principal: PageUser,
    storage: StorageDep,
    settings: SettingsDep,
    type: Annotated[DiaryType, Form()],
    day: Annotated[dt.date | None, Form()] = None,
    title: Annotated[str, Form(max_length=300)] = "",
    notes: Annotated[str, Form(max_length=10000)] = "",
    product_name: Annotated[str | None, Form(max_length=200)] = None,
    dose: Annotated[str | None, Form(max_length=100)] = None,
    phi_days: Annotated[int | None, Form(ge=0, le=365)] = None,
    quantity_value: Annotated[float | None, Form(ge=0, allow_inf_nan=False)] = None,
    quantity_unit: Annotated[str | None, Form(max_length=32)] = None,
    reason: Annotated[str | None, Form(max_length=2000)] = None,
    phi_override_reason: Annotated[str | None, Form(max_length=2000)] = None,
    remove_photo: Annotated[list[int] | None, Form()] = None,
    photos: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    """The same rules as ``PATCH /api/v1/diary/{id}`` and its photo routes: the form's fields become the entry's
    (the day only when it changed: the moment stays otherwise), the ticked photos come off and the chosen ones are
    added, all as one revision; a refusal re-shows the form with what was typed and the reason."""
    entry = get_owned(session, DiaryEntry, entry_id, principal, "diary entry")
    changes: dict[str, object] = {
        "type": type,
        "title": title,
        "notes": notes,
        "product_name": product_name,
        "dose": dose,
        "phi_days": phi_days,
        "quantity_value": quantity_value,
        "quantity_unit": quantity_unit,
    }
    if day is not None and day != local_day(entry.occurred_at):
        changes["occurred_at"] = _occurred_at(day)
    photos = [p for p in photos or [] if p.filename]  # an empty file input still sends one empty part
    try:
        if await diary_api.change_photos(
            session,
            principal,
            settings,
            storage,
            entry,
            add=photos,
            remove=remove_photo or [],
            changes=changes,
            reason=reason or None,
            phi_override_reason=phi_override_reason or None,
        ):
            session.commit()
    except (ApiError, IngestError) as exc:
        if isinstance(exc, ApiError) and exc.status in (403, 404):
            raise
        session.rollback()
        typed = _form_values(
            day=(day or local_day(entry.occurred_at)).isoformat(),
            reason=reason,
            phi_override_reason=phi_override_reason,
            **changes,
        )
        return _entry_page(
            request,
            session,
            principal,
            entry,
            status=exc.status,
            form=typed,
            error=translate(
                exc.code if isinstance(exc, ApiError) else exc.key, page_locale(request, principal), **exc.params
            ),
        )
    return RedirectResponse(f"/diary/{entry.id}?saved=1", status_code=303)


@router.post("/diary/{entry_id}/delete")
def delete_diary_entry(
    entry_id: Id,
    request: Request,
    session: SessionDep,
    principal: PageUser,
    reason: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    """A soft delete with its revision (the same rules as ``DELETE /api/v1/diary/{id}``); back to the plot's diary,
    which no longer lists it."""
    entry = get_owned(session, DiaryEntry, entry_id, principal, "diary entry")
    try:
        if diary_api.apply_delete(session, principal, entry, reason or None):
            session.commit()
    except ApiError as exc:
        if exc.status in (403, 404):
            raise
        session.rollback()
        return _entry_page(
            request,
            session,
            principal,
            entry,
            status=exc.status,
            error=translate(exc.code, page_locale(request, principal), **exc.params),
        )
    return RedirectResponse(f"/plots/{entry.plot_id}?deleted=1", status_code=303)


# harvest lots -------------------------------------------------------------------------------------------------


def _lots_page(
    request: Request,
    session,
    principal: Principal,
    *,
    error: str | None = None,
    created: str | None = None,
    status: int = 200,
) -> Response:
    principal.require(*WRITERS)
    lots = list(
        session.scalars(
            scoped(HarvestLot, principal).order_by(HarvestLot.harvested_on.desc(), HarvestLot.id.desc()).limit(300)
        )
    )
    plots = {p.id: p for p in session.scalars(scoped(Plot, principal))}
    return render(
        request,
        "farmer/lots.html",
        principal,
        status=status,
        lots=lots,
        plots=plots,
        chains=chain.public_chains(session, lots),
        steps=chain.KINDS,
        chain_now=utcnow().astimezone(LOCAL_TZ).strftime("%Y-%m-%dT%H:%M"),
        mine=visible_plots(session, principal),
        error=error,
        created=created,
        today=local_day(utcnow()).isoformat(),
        can_override=principal.role in (Role.agronomist, Role.coop_admin),
    )


def _lots_refusal(request: Request, session, principal: Principal, exc: ApiError) -> Response:
    """A refused lot form: the lots page again with the reason (403 and 404 stay errors: not the caller's lot)."""
    if exc.status in (403, 404):
        raise exc
    session.rollback()
    error = translate(exc.code, page_locale(request, principal), **exc.params)
    return _lots_page(request, session, principal, status=exc.status, error=error)


@router.get("/lots")
def lots_page(request: Request, session: SessionDep, principal: PageUser, created: str | None = None) -> Response:
    return _lots_page(request, session, principal, created=created)


@router.post("/lots")
def create_lot_page(
    request: Request,
    session: SessionDep,
    principal: PageUser,
    plot_id: Annotated[int, Form()],
    harvested_on: Annotated[dt.date, Form()],
    quantity: Annotated[float, Form(gt=0, le=1e7)],
    unit: Annotated[str, Form(max_length=16)] = "kg",
    ripeness_grade: Annotated[str | None, Form(max_length=32)] = None,
    phi_override_reason: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    body = LotIn(
        plot_id=plot_id,
        harvested_on=harvested_on,
        quantity=quantity,
        unit=unit or "kg",
        ripeness_grade=ripeness_grade or None,
        phi_override_reason=phi_override_reason or None,
    )
    try:
        lot = new_lot(body, request, session, principal)
    except ApiError as exc:
        return _lots_refusal(request, session, principal, exc)
    return RedirectResponse(f"/lots?created={lot.public_code}", status_code=303)


def _number(value: str, field: str) -> float | None:
    if not value.strip():
        return None
    try:
        return float(value.replace(",", "."))
    except ValueError:
        raise ApiError(422, "chain_bad_number", field=field) from None


@router.post("/lots/events")
async def add_lot_event_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    principal: PageUser,
    lot_id: Annotated[int, Form(ge=1)],
    kind: Annotated[str, Form(max_length=32)],
    occurred_at: Annotated[str, Form(max_length=32)],
    place: Annotated[str, Form(max_length=200)] = "",
    output_kg: Annotated[str, Form(max_length=20)] = "",
    packages: Annotated[str, Form(max_length=20)] = "",
    package_kg: Annotated[str, Form(max_length=20)] = "",
    package_type: Annotated[str, Form(max_length=100)] = "",
    temperature_c: Annotated[str, Form(max_length=20)] = "",
    buyer: Annotated[str, Form(max_length=200)] = "",
    vehicle: Annotated[str, Form(max_length=50)] = "",
    photos: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    """The lot card's "after harvest" form (the same rules as POST /api/v1/lots/{id}/events), with the step's
    photos (checked before anything is recorded); the time is local."""
    from api.routers.lot_chain import STAFF, LotEventIn, check_step_photos, record_step

    locale = page_locale(request, principal)
    principal.require(*STAFF)
    lot = get_owned(session, HarvestLot, lot_id, principal, "lot")  # another cooperative's: 404
    try:
        when = dt.datetime.fromisoformat(occurred_at)
        when = when if when.tzinfo else when.replace(tzinfo=LOCAL_TZ)
        n = _number(packages, "packages")
        details = {
            "output_kg": _number(output_kg, "output_kg"),
            "packages": int(n) if n is not None and n == int(n) else n,
            "package_kg": _number(package_kg, "package_kg"),
            "package_type": package_type,
            "temperature_c": _number(temperature_c, "temperature_c"),
            "buyer": buyer,
            "vehicle": vehicle,
        }
        body = LotEventIn(
            kind=kind, occurred_at=when, place=place, details={k: v for k, v in details.items() if v not in (None, "")}
        )
    except ValueError:
        return _lots_page(request, session, principal, status=422, error=translate("chain_bad_time", locale))
    except ApiError as exc:  # a number that is not one
        return _lots_refusal(request, session, principal, exc)
    try:
        blobs = await check_step_photos(settings, [p for p in photos or [] if p.filename])
        record_step(session, principal, lot, body, blobs, storage)
    except IngestError as exc:  # a photo that is not one, or too large
        return _lots_page(
            request, session, principal, status=exc.status, error=translate(exc.key, locale, **exc.params)
        )
    except ApiError as exc:
        return _lots_refusal(request, session, principal, exc)
    return RedirectResponse(f"/lots?step={kind}#lot-{lot_id}", status_code=303)


@router.post("/lots/merge")
def merge_lots_page(
    request: Request,
    session: SessionDep,
    principal: PageUser,
    occurred_at: Annotated[str, Form(max_length=32)],
    lot_ids: Annotated[list[int], Form()] = [],  # noqa: B006 (FastAPI copies a Form default)
    place: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """The lots page's merge form (the same rules as POST /api/v1/lots/merge); the time is local."""
    from api.routers.lot_chain import MergeIn, merge_lots

    locale = page_locale(request, principal)
    try:
        when = dt.datetime.fromisoformat(occurred_at)
    except ValueError:
        return _lots_page(request, session, principal, status=422, error=translate("chain_bad_time", locale))
    when = when if when.tzinfo else when.replace(tzinfo=LOCAL_TZ)
    try:
        body = MergeIn(lot_ids=lot_ids, occurred_at=when, place=place)
        merged = merge_lots(body, request, session, principal)
    except ValidationError:  # more lots than a merge takes
        msg = translate("chain_merge_count", locale, high=chain.MAX_MERGE)
        return _lots_page(request, session, principal, status=422, error=msg)
    except ApiError as exc:
        return _lots_refusal(request, session, principal, exc)
    return RedirectResponse(f"/lots?created={merged.public_code}", status_code=303)


@router.get("/lots/{lot_id}/qr.{fmt}")
def lot_qr(lot_id: Id, fmt: str, request: Request, session: SessionDep, principal: PageUser) -> Response:
    lot = get_owned(session, HarvestLot, lot_id, principal, "lot")
    url = lot_link(request, lot)  # a GS1 Digital Link when the product has a GTIN
    if fmt == "svg":
        return Response(qr_svg(url), media_type="image/svg+xml")
    if fmt == "png":
        return Response(
            qr_png(url),
            media_type="image/png",
            headers={"Content-Disposition": f'attachment; filename="qr-{lot.public_code}.png"'},
        )
    return Response(status_code=404)


@router.get("/lots/labels.pdf")
def lot_labels(
    request: Request, session: SessionDep, principal: PageUser, ids: Annotated[list[Id], Query(max_length=240)]
) -> Response:
    from api.routers.lots import lot_labels as api_labels

    return api_labels(request, session, principal, ",".join(str(i) for i in ids))
