"""Cultivation diary (nhật ký canh tác): every write keeps a revision; automatic observations."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cropwatch.domain import DiarySource, DiaryStatus, DiaryType
from cropwatch.i18n import t
from cropwatch.tables import Camera, Capture, DiaryEntry, DiaryRevision
from cropwatch.timeutil import fmt_date, local_day, local_day_bounds

SNAPSHOT_FIELDS = (
    "plot_id", "occurred_at", "type", "status", "source", "title", "notes", "quantity_value", "quantity_unit",
    "product_name", "registration_no", "active_ingredient", "dose", "treated_area_m2", "operator", "phi_days",
    "photo_keys", "capture_id", "alert_id", "detection_ids", "deleted_at", "subject", "title_en",
)


def _snapshot(entry: DiaryEntry) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in SNAPSHOT_FIELDS:
        value = getattr(entry, name)
        if isinstance(value, (dt.datetime, dt.date)):
            value = value.isoformat()
        elif hasattr(value, "value"):
            value = value.value
        out[name] = value
    return out


def record_revision(session: Session, entry: DiaryEntry, *, user_id: int | None) -> DiaryRevision:
    session.flush()
    last = session.scalar(select(func.max(DiaryRevision.revision)).where(DiaryRevision.entry_id == entry.id)) or 0
    rev = DiaryRevision(cooperative_id=entry.cooperative_id, entry_id=entry.id, revision=last + 1,
                        changed_by=user_id, snapshot=_snapshot(entry))
    session.add(rev)
    return rev


def create_entry(session: Session, *, cooperative_id: int, user_id: int | None, **fields: Any) -> DiaryEntry:
    entry = DiaryEntry(cooperative_id=cooperative_id, created_by=user_id, **fields)
    session.add(entry)
    record_revision(session, entry, user_id=user_id)
    return entry


def automatic_observation(
    session: Session,
    *,
    capture: Capture,
    camera: Camera,
    detections: list[tuple[int, str]],
    names_vi: dict[str, str] | None,
    alert_id: int | None = None,
) -> DiaryEntry | None:
    """One pending `observation` per plot, pest and local day, updated as the day goes: its figure is the day's
    count as the alerts read it (:func:`cropwatch.alerts.daily_count`: new catches on a trap, the highest photo of
    a garden camera), its evidence the photos' detections (``detection_ids``, ``capture_id`` the latest), every
    update a revision. Written in Vietnamese (``title``) and English (``title_en``); a page shows one of them."""
    from cropwatch.alerts import daily_count

    if not detections:
        return None
    by_class: dict[str, list[int]] = {}
    for det_id, name in detections:
        by_class.setdefault(name, []).append(det_id)
    day = local_day(capture.captured_at)
    start, end = local_day_bounds(day)
    first = None
    for name, ids in sorted(by_class.items()):
        count = daily_count(session, plot_id=capture.plot_id, class_name=name, day=day, min_score=0.0)
        pest_vi = (names_vi or {}).get(name, name)
        common = dict(count=count, date=fmt_date(day))
        vi = t("diary_auto_day", "vi", pest=pest_vi, **common)
        en = t("diary_auto_day", "en", pest=name, **common)
        entry = session.scalar(select(DiaryEntry).where(
            DiaryEntry.plot_id == capture.plot_id, DiaryEntry.source == DiarySource.automatic,
            DiaryEntry.subject == name, DiaryEntry.deleted_at.is_(None),
            DiaryEntry.occurred_at >= start, DiaryEntry.occurred_at < end).order_by(DiaryEntry.id))
        if entry is None:
            entry = create_entry(
                session, cooperative_id=capture.cooperative_id, user_id=None, plot_id=capture.plot_id,
                occurred_at=capture.captured_at, type=DiaryType.observation, status=DiaryStatus.pending,
                source=DiarySource.automatic, subject=name, title=vi, title_en=en, notes="",
                capture_id=capture.id, alert_id=alert_id, detection_ids=ids)
        else:
            entry.title, entry.title_en = vi, en
            entry.detection_ids = [*(entry.detection_ids or []), *ids]
            entry.capture_id = capture.id
            if alert_id is not None:
                entry.alert_id = alert_id
            record_revision(session, entry, user_id=None)
        first = first or entry
    return first
