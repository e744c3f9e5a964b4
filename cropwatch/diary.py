"""Cultivation diary (nhật ký canh tác): every write keeps a revision; automatic observations."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cropwatch.domain import DiarySource, DiaryStatus, DiaryType
from cropwatch.i18n import t
from cropwatch.tables import Camera, Capture, DiaryEntry, DiaryRevision

SNAPSHOT_FIELDS = (
    "plot_id", "occurred_at", "type", "status", "source", "title", "notes", "quantity_value", "quantity_unit",
    "product_name", "registration_no", "active_ingredient", "dose", "treated_area_m2", "operator", "phi_days",
    "photo_keys", "capture_id", "alert_id", "detection_ids", "deleted_at",
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


def summarize(class_counts: Counter, names_vi: dict[str, str] | None, locale: str) -> str:
    parts = []
    for name, n in class_counts.most_common():
        label = (names_vi or {}).get(name, name) if locale == "vi" else name
        parts.append(f"{n} {label}")
    return ", ".join(parts)


def automatic_observation(
    session: Session,
    *,
    capture: Capture,
    camera: Camera,
    detections: list[tuple[int, str]],
    names_vi: dict[str, str] | None,
    alert_id: int | None = None,
) -> DiaryEntry | None:
    """A pending `observation` linked to the capture and its detections (id, class name)."""
    if not detections:
        return None
    counts = Counter(name for _, name in detections)
    summary_vi = summarize(counts, names_vi, "vi")
    return create_entry(
        session,
        cooperative_id=capture.cooperative_id,
        user_id=None,
        plot_id=capture.plot_id,
        occurred_at=capture.captured_at,
        type=DiaryType.observation,
        status=DiaryStatus.pending,
        source=DiarySource.automatic,
        title=t("diary_auto_observation", "vi", camera=camera.name, summary=summary_vi),
        notes=t("diary_auto_observation", "en", camera=camera.name, summary=summarize(counts, None, "en")),
        capture_id=capture.id,
        alert_id=alert_id,
        detection_ids=[i for i, _ in detections],
    )
