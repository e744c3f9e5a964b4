"""Cultivation diary (nhật ký canh tác): every write keeps a revision; automatic observations; edits and soft
deletes of manual entries, each a revision an auditor can read as "who, when, field: before → after".

A revision's ``snapshot`` is the entry's state after the change (the fields of ``SNAPSHOT_FIELDS``); a key that
starts with ``_`` is about the change itself, not the entry (``_reason``: why it was edited or deleted).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cropwatch.alerts.counts import DayFigures
from cropwatch.core.enums import DiarySource, DiaryStatus, DiaryType
from cropwatch.core.i18n import fmt_number, t
from cropwatch.core.orm import Camera, Capture, Detection, DiaryEntry, DiaryRevision, User
from cropwatch.core.timeutil import fmt_date, fmt_datetime, local_day, local_day_bounds, utcnow

SNAPSHOT_FIELDS = (
    "plot_id",
    "occurred_at",
    "type",
    "status",
    "source",
    "title",
    "notes",
    "quantity_value",
    "quantity_unit",
    "product_name",
    "registration_no",
    "active_ingredient",
    "dose",
    "treated_area_m2",
    "operator",
    "phi_days",
    "photo_keys",
    "capture_id",
    "alert_id",
    "detection_ids",
    "deleted_at",
    "subject",
    "title_en",
)


#: what a person writes; an entry with none of them is empty and refused (``diary_entry_empty``, docs/decisions.md):
#: a title, notes, a quantity, a product (its name, registration number or active ingredient) or a photo
CONTENT_FIELDS = (
    "title",
    "notes",
    "quantity_value",
    "product_name",
    "registration_no",
    "active_ingredient",
    "photo_keys",
)
#: what an edit of a manual entry may change (plot and source stay as they were written); ``photo_keys`` only
#: through :func:`photo_change` (keys the server wrote: an API body never names an object key)
EDITABLE_FIELDS = (
    "occurred_at",
    "type",
    "status",
    "title",
    "notes",
    "quantity_value",
    "quantity_unit",
    "product_name",
    "registration_no",
    "active_ingredient",
    "dose",
    "treated_area_m2",
    "operator",
    "phi_days",
    "photo_keys",
)
_DATETIME_FIELDS = ("occurred_at", "deleted_at")


class DiaryRefused(Exception):
    """A diary write the rules refuse; ``code`` is a message key of :mod:`cropwatch.core.i18n`."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _snapshot(entry: DiaryEntry) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in SNAPSHOT_FIELDS:
        value = getattr(entry, name)
        if isinstance(value, dt.datetime):
            value = value.astimezone(dt.timezone.utc).isoformat()  # one offset: a diff never sees a false change
        elif isinstance(value, dt.date):
            value = value.isoformat()
        elif hasattr(value, "value"):
            value = value.value
        out[name] = value
    return out


def record_revision(
    session: Session, entry: DiaryEntry, *, user_id: int | None, reason: str | None = None
) -> DiaryRevision:
    session.flush()
    last = session.scalar(select(func.max(DiaryRevision.revision)).where(DiaryRevision.entry_id == entry.id)) or 0
    snapshot = _snapshot(entry)
    if reason:
        snapshot["_reason"] = reason
    rev = DiaryRevision(
        cooperative_id=entry.cooperative_id, entry_id=entry.id, revision=last + 1, changed_by=user_id, snapshot=snapshot
    )
    session.add(rev)
    return rev


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (isinstance(value, list) and not value)


def is_empty(values: Mapping[str, Any]) -> bool:
    """True when none of :data:`CONTENT_FIELDS` holds anything (whitespace is nothing; a quantity of 0 is one)."""
    return all(_blank(values.get(name)) for name in CONTENT_FIELDS)


def check_writable(entry: DiaryEntry) -> None:
    """Refuse an edit of an automatic or deleted entry."""
    if entry.source == DiarySource.automatic:
        raise DiaryRefused("diary_automatic_locked")
    if entry.deleted_at is not None:
        raise DiaryRefused("diary_entry_deleted")


def _normalized(name: str, value: Any) -> Any:
    if name in ("title", "notes"):
        return value or ""
    return None if isinstance(value, str) and not value.strip() else value


def update_entry(
    session: Session, entry: DiaryEntry, *, user_id: int | None, changes: Mapping[str, Any], reason: str | None = None
) -> bool:
    """Apply ``changes`` (fields of :data:`EDITABLE_FIELDS`) to a manual entry with one revision; False when
    nothing changed (no revision). Refuses automatic and deleted entries, and an edit that leaves it empty."""
    check_writable(entry)
    new = {k: _normalized(k, v) for k, v in changes.items() if k in EDITABLE_FIELDS}
    diff = {k: v for k, v in new.items() if getattr(entry, k) != v}
    if not diff:
        return False
    if is_empty({name: diff.get(name, getattr(entry, name)) for name in CONTENT_FIELDS}):
        raise DiaryRefused("diary_entry_empty")
    for name, value in diff.items():
        setattr(entry, name, value)
    record_revision(session, entry, user_id=user_id, reason=reason)
    return True


def soft_delete(session: Session, entry: DiaryEntry, *, user_id: int | None, reason: str | None = None) -> bool:
    """Withdraw a manual entry: ``deleted_at`` is set, a revision keeps who, when and why; the row stays for the
    audit (lists hide it, exports mark it). False when it was already deleted."""
    if entry.source == DiarySource.automatic:
        raise DiaryRefused("diary_automatic_locked")
    if entry.deleted_at is not None:
        return False
    entry.deleted_at = utcnow()
    record_revision(session, entry, user_id=user_id, reason=reason)
    return True


# -- reading revisions ------------------------------------------------------------------------------------------


def _same(name: str, before: Any, after: Any) -> bool:
    if name in _DATETIME_FIELDS and before and after:
        return dt.datetime.fromisoformat(before) == dt.datetime.fromisoformat(after)
    return before == after


def changed_fields(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """(field, before, after) of every snapshot field that differs; nothing for a first revision."""
    if before is None:
        return []
    return [
        (name, before.get(name), after.get(name))
        for name in SNAPSHOT_FIELDS
        if not _same(name, before.get(name), after.get(name))
    ]


def format_value(name: str, value: Any, locale: str) -> str:
    """A snapshot value as a reader sees it: catalogue words for type/status/source, dd/mm/yyyy HH:MM local."""
    if _blank(value):
        return "—"
    if name in ("type", "status", "source"):
        return t(f"diary_{name}_{value}", locale)
    if name in _DATETIME_FIELDS:
        return fmt_datetime(dt.datetime.fromisoformat(value))
    if name == "photo_keys":
        return t("diary_n_photos", locale, n=len(value))
    if name == "detection_ids":
        return t("diary_n_detections", locale, n=len(value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def user_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {u.id: u.full_name or u.username for u in session.scalars(select(User).where(User.id.in_(wanted)))}


def who(names: Mapping[int, str], user_id: int | None, locale: str) -> str:
    return t("diary_by_system", locale) if user_id is None else names.get(user_id, f"#{user_id}")


@dataclass(frozen=True)
class FieldChange:
    name: str
    label: str
    before: str
    after: str
    #: for ``photo_keys``: the photos this revision took off the entry, as indexes into the previous revision's
    #: photos (the objects stay in storage; the entry page shows them in its history)
    removed: tuple[int, ...] = ()


@dataclass(frozen=True)
class RevisionView:
    """One revision as the entry page shows it: ``action`` is created, edited, deleted or restored."""

    revision: int
    at: dt.datetime
    who: str
    action: str
    reason: str | None
    changes: list[FieldChange] = field(default_factory=list)


def _action(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> str:
    if before is None:
        return "created"
    if not before.get("deleted_at") and after.get("deleted_at"):
        return "deleted"
    if before.get("deleted_at") and not after.get("deleted_at"):
        return "restored"
    return "edited"


def _removed_photos(before: list[str] | None, after: list[str] | None) -> tuple[int, ...]:
    kept = set(after or [])
    return tuple(i for i, key in enumerate(before or []) if key not in kept)


def _field_change(name: str, old: Any, new: Any, locale: str) -> FieldChange:
    label, before, after = (
        t(f"diary_field_{name}", locale),
        format_value(name, old, locale),
        format_value(name, new, locale),
    )
    if name != "photo_keys":
        return FieldChange(name, label, before, after)
    removed = _removed_photos(old, new)
    added = len(set(new or []) - set(old or []))
    after += " (" + t("diary_photos_changed", locale, removed=len(removed), added=added) + ")"
    return FieldChange(name, label, before, after, removed)


def photo_change(entry: DiaryEntry, *, remove: Iterable[int] = (), add: Iterable[str] = ()) -> list[str]:
    """The entry's photos after taking off those at ``remove`` (indexes into today's photos; unknown ones are
    ignored) and appending the new keys ``add``; pass it as ``changes["photo_keys"]`` to :func:`update_entry`."""
    gone = set(remove)
    return [k for i, k in enumerate(entry.photo_keys or []) if i not in gone] + list(add)


def revision_photo(session: Session, entry: DiaryEntry, revision: int, index: int) -> str | None:
    """The key of a photo the entry held at ``revision`` (a photo taken off later stays readable for the audit)."""
    rev = session.scalar(
        select(DiaryRevision).where(DiaryRevision.entry_id == entry.id, DiaryRevision.revision == revision)
    )
    keys = ((rev.snapshot or {}).get("photo_keys") or []) if rev is not None else []
    return keys[index] if 0 <= index < len(keys) else None


def revisions(session: Session, entry_id: int) -> list[DiaryRevision]:
    return list(
        session.scalars(
            select(DiaryRevision).where(DiaryRevision.entry_id == entry_id).order_by(DiaryRevision.revision)
        )
    )


def history(session: Session, entry: DiaryEntry, locale: str) -> list[RevisionView]:
    """The entry's revisions, oldest first, each with the fields it changed (before → after) in ``locale``."""
    revs = revisions(session, entry.id)
    names = user_names(session, (r.changed_by for r in revs))
    out, before = [], None
    for rev in revs:
        changes = [
            _field_change(name, old, new, locale)
            for name, old, new in changed_fields(before, rev.snapshot)
            if name != "deleted_at"
        ]
        out.append(
            RevisionView(
                rev.revision,
                rev.changed_at,
                who(names, rev.changed_by, locale),
                _action(before, rev.snapshot),
                rev.snapshot.get("_reason"),
                changes,
            )
        )
        before = rev.snapshot
    return out


@dataclass(frozen=True)
class RevisionSummary:
    """What an export shows of an entry's history: how often it was changed after it was written, the last
    change, and who withdrew it (when it is deleted)."""

    changes: int
    last_at: dt.datetime | None
    last_by: str
    deleted_by: str
    deleted_reason: str | None


def summaries(session: Session, entries: list[DiaryEntry], locale: str) -> dict[int, RevisionSummary]:
    ids = [e.id for e in entries]
    if not ids:
        return {}
    rows = session.execute(
        select(
            DiaryRevision.entry_id,
            DiaryRevision.revision,
            DiaryRevision.changed_at,
            DiaryRevision.changed_by,
            DiaryRevision.id,
        )
        .where(DiaryRevision.entry_id.in_(ids))
        .order_by(DiaryRevision.revision)
    ).all()
    per: dict[int, list] = {}
    for row in rows:
        per.setdefault(row.entry_id, []).append(row)
    names = user_names(session, (r.changed_by for r in rows))
    out = {}
    for e in entries:
        revs = per.get(e.id, [])
        last = revs[-1] if len(revs) > 1 else None
        deleted_by, reason = "", None
        if e.deleted_at is not None and revs:
            deleted_by = who(names, revs[-1].changed_by, locale)
            reason = (session.get(DiaryRevision, revs[-1].id).snapshot or {}).get("_reason")
        out[e.id] = RevisionSummary(
            max(len(revs) - 1, 0),
            last.changed_at if last else None,
            who(names, last.changed_by, locale) if last else "",
            deleted_by,
            reason,
        )
    return out


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
    detections: Sequence[Detection],
    names_vi: dict[str, str] | None,
    alert_id: int | None = None,
    figures: DayFigures | None = None,
    first_seen: Mapping[str, dt.datetime] | None = None,
) -> DiaryEntry | None:
    """One pending `observation` per plot, pest and local day, updated as the day goes: its figure is the day's
    count as the alerts read it (:func:`cropwatch.alerts.rules.daily_count`: new catches on a trap, the highest photo of
    a garden camera), its evidence the photos' detections (``detection_ids``, ``capture_id`` the latest), every
    update a revision. Written in Vietnamese (``title``) and English (``title_en``); a page shows one of them.
    ``detections`` may come from several photos of that day (a worker's batch): ``capture`` is the latest of them,
    ``first_seen`` when the first of them showing each pest was taken (a new observation's time)."""
    if not detections:
        return None
    by_class: dict[str, list[int]] = {}
    for d in detections:
        by_class.setdefault(d.class_name, []).append(d.id)
    day = local_day(capture.captured_at)
    start, end = local_day_bounds(day)
    figures = figures or DayFigures(session, plot_id=capture.plot_id, day=day)
    first = None
    for name, ids in sorted(by_class.items()):
        fig = figures.get(name, min_score=0.0)
        count = fig.value if fig else 0
        pest_vi = (names_vi or {}).get(name, name)
        vi = t("diary_auto_day", "vi", pest=pest_vi, count=fmt_number(count, "vi"), date=fmt_date(day))
        en = t("diary_auto_day", "en", pest=name, count=fmt_number(count, "en"), date=fmt_date(day))
        entry = session.scalar(
            select(DiaryEntry)
            .where(
                DiaryEntry.plot_id == capture.plot_id,
                DiaryEntry.source == DiarySource.automatic,
                DiaryEntry.subject == name,
                DiaryEntry.deleted_at.is_(None),
                DiaryEntry.occurred_at >= start,
                DiaryEntry.occurred_at < end,
            )
            .order_by(DiaryEntry.id)
        )
        if entry is None:
            entry = create_entry(
                session,
                cooperative_id=capture.cooperative_id,
                user_id=None,
                plot_id=capture.plot_id,
                occurred_at=(first_seen or {}).get(name, capture.captured_at),
                type=DiaryType.observation,
                status=DiaryStatus.pending,
                source=DiarySource.automatic,
                subject=name,
                title=vi,
                title_en=en,
                notes="",
                capture_id=capture.id,
                alert_id=alert_id,
                detection_ids=ids,
            )
        else:
            entry.title, entry.title_en = vi, en
            entry.detection_ids = [*(entry.detection_ids or []), *ids]
            entry.capture_id = capture.id
            if alert_id is not None:
                entry.alert_id = alert_id
            record_revision(session, entry, user_id=None)
        first = first or entry
    return first
