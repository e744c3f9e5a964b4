"""Photo retention: thin the photos nothing refers to, keep the evidence (issue 17, docs/decisions.md).

A cooperative's policy (``Cooperative.photo_retention_days``, default 30; None keeps every photo) thins its `done`
captures older than that many days, **except** a photo that is evidence of something:

- it shows a detection the reviewers did not reject (every stored detection passed the model version's
  confidence: that is the threshold), so every automatic diary observation and every count keeps its photos;
- it was reviewed or flagged for a second look, or is the evidence photo of an alert or of a diary entry (a lot's
  harvest entry included), or its image is in the golden set (datasets are built from reviewed photos only);
- it is the first photo of its camera's local day: a camera's timeline keeps one photo per day.

Only the photo goes: the capture row, its detections and the day's figures stay, and the capture says when its
photo was removed (``purged_at``). The job marks a batch with one conditional UPDATE that re-checks every rule above
at write time, commits, and only then removes the objects; a review marks its capture with a conditional UPDATE
too (``cropwatch.review.actions``), so a review and the job racing on a photo end with either the photo reviewed and
kept or the review refused, never a reviewed capture without its photo. Running it twice removes nothing new.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from cropwatch.core.enums import CaptureStatus, ReviewState
from cropwatch.core.orm import (
    Alert,
    Camera,
    Capture,
    Cooperative,
    Detection,
    DiaryEntry,
    GoldenImage,
    RetentionRun,
    Review,
)
from cropwatch.core.storage import Storage, StorageError
from cropwatch.core.timeutil import local_day, local_day_bounds, utcnow

log = logging.getLogger(__name__)

DEFAULT_DAYS = 30
BATCH = 200


def _unreferenced():
    """The SQL conditions under which a capture's photo is evidence of nothing (see the module's docstring)."""
    return and_(
        Capture.status == CaptureStatus.done,
        Capture.purged_at.is_(None),
        Capture.reviewed_at.is_(None),
        Capture.flagged_at.is_(None),
        ~exists().where(Detection.capture_id == Capture.id, Detection.review_state != ReviewState.rejected),
        ~exists().where(Review.capture_id == Capture.id),
        ~exists().where(Alert.evidence_capture_id == Capture.id),
        ~exists().where(DiaryEntry.capture_id == Capture.id),
        ~exists().where(GoldenImage.object_key == Capture.object_key),
    )


def _candidates(session: Session, cooperative_id: int, cutoff: dt.datetime, after_id: int, limit: int) -> list:
    return list(
        session.execute(
            select(Capture.id, Capture.camera_id, Capture.captured_at, Capture.size_bytes)
            .where(Capture.cooperative_id == cooperative_id, Capture.captured_at < cutoff, Capture.id > after_id)
            .where(_unreferenced())
            .order_by(Capture.id)
            .limit(limit)
        )
    )


def _firsts_of_day(session: Session, rows: list) -> set[int]:
    """The ids among all `done` photos of the rows' cameras and local days that are their camera's first of the
    day (kept: one photo per camera per day), in one query for a batch of candidates."""
    if not rows:
        return set()
    start = local_day_bounds(local_day(min(r.captured_at for r in rows)))[0]
    end = local_day_bounds(local_day(max(r.captured_at for r in rows)))[1]
    seen: set[tuple[int, dt.date]] = set()
    firsts: set[int] = set()
    for cid, cam, at in session.execute(
        select(Capture.id, Capture.camera_id, Capture.captured_at)
        .where(
            Capture.camera_id.in_({r.camera_id for r in rows}),
            Capture.status == CaptureStatus.done,
            Capture.captured_at >= start,
            Capture.captured_at < end,
        )
        .order_by(Capture.captured_at, Capture.id)
    ):
        key = (cam, local_day(at))
        if key not in seen:
            seen.add(key)
            firsts.add(cid)
    return firsts


def _thinnable(session: Session, cooperative_id: int, cutoff: dt.datetime, after_id: int, limit: int):
    """The next batch of candidates after ``after_id`` without their camera's first photo of the day: (the photos
    the policy removes, the last candidate id read; None when there is none left)."""
    rows = _candidates(session, cooperative_id, cutoff, after_id, limit)
    if not rows:
        return [], None
    firsts = _firsts_of_day(session, rows)
    return [r for r in rows if r.id not in firsts], rows[-1].id


@dataclass
class Outcome:
    cooperative_id: int
    days: int | None
    removed: int = 0
    freed_bytes: int = 0
    errors: int = 0


def apply_policy(
    sessions: sessionmaker[Session],
    storage: Storage,
    *,
    cooperative_id: int,
    now: dt.datetime | None = None,
    batch: int = BATCH,
) -> Outcome:
    """Thin one cooperative's photos by its policy, in batches; returns what was removed (also a `RetentionRun`)."""
    now = now or utcnow()
    with sessions() as s:
        days = s.scalar(select(Cooperative.photo_retention_days).where(Cooperative.id == cooperative_id))
    out = Outcome(cooperative_id, days)
    if days is None:
        return out
    cutoff = now - dt.timedelta(days=days)
    with sessions.begin() as s:
        run = RetentionRun(cooperative_id=cooperative_id, days=days, started_at=now)
        s.add(run)
        s.flush()
        run_id = run.id
    after = 0
    while True:
        with sessions() as s:
            rows, after = _thinnable(s, cooperative_id, cutoff, after, batch)
        if after is None:
            break
        ids = [r.id for r in rows]
        if not ids:
            continue
        with sessions.begin() as s:  # re-checked at write time: a review that got there first keeps its photo
            marked = list(
                s.execute(
                    update(Capture)
                    .where(Capture.id.in_(ids))
                    .where(_unreferenced())
                    .values(purged_at=utcnow())
                    .returning(Capture.id, Capture.object_key, Capture.size_bytes),
                    execution_options={"synchronize_session": False},
                )
            )
        for row in marked:
            try:
                storage.remove(row.object_key)
            except StorageError as exc:
                out.errors += 1
                log.warning("retention: photo of capture %s not removed (%s); next run tries again", row.id, exc)
                with sessions.begin() as s:  # not removed: not marked either, so the next run tries again
                    s.execute(update(Capture).where(Capture.id == row.id).values(purged_at=None))
                continue
            out.removed += 1
            out.freed_bytes += row.size_bytes or 0
    with sessions.begin() as s:
        run = s.get(RetentionRun, run_id)
        run.finished_at, run.removed, run.freed_bytes, run.errors = utcnow(), out.removed, out.freed_bytes, out.errors
    if out.removed:
        log.info("retention: cooperative %s, %d photos removed, %d bytes", cooperative_id, out.removed, out.freed_bytes)
    return out


def apply_all(sessions: sessionmaker[Session], storage: Storage, *, now: dt.datetime | None = None) -> list[Outcome]:
    """Every cooperative's policy (the daily maintenance task and ``cropwatch retention``)."""
    with sessions() as s:
        ids = list(s.scalars(select(Cooperative.id).where(Cooperative.photo_retention_days.is_not(None))))
    return [apply_policy(sessions, storage, cooperative_id=i, now=now) for i in ids]


@dataclass
class CameraUsage:
    camera_id: int
    name: str
    photos: int
    bytes: int
    removed: int  # photos already removed by the policy
    to_free_photos: int  # what the policy would remove if it ran now
    to_free_bytes: int


def usage(session: Session, cooperative_id: int, *, now: dt.datetime | None = None) -> list[CameraUsage]:
    """Storage per camera of the cooperative, and what its policy would free now."""
    now = now or utcnow()
    days = session.scalar(select(Cooperative.photo_retention_days).where(Cooperative.id == cooperative_id))
    cams = session.execute(
        select(Camera.id, Camera.name).where(Camera.cooperative_id == cooperative_id).order_by(Camera.id)
    ).all()
    stored = {
        cam: (n, b or 0)
        for cam, n, b in session.execute(
            select(Capture.camera_id, func.count(Capture.id), func.sum(Capture.size_bytes))
            .where(Capture.cooperative_id == cooperative_id, Capture.purged_at.is_(None))
            .where(Capture.status != CaptureStatus.pending)
            .group_by(Capture.camera_id)
        )
    }
    removed = dict(
        session.execute(
            select(Capture.camera_id, func.count(Capture.id))
            .where(Capture.cooperative_id == cooperative_id, Capture.purged_at.is_not(None))
            .group_by(Capture.camera_id)
        ).all()
    )
    to_free: dict[int, list[int]] = {}
    if days is not None:
        after: int | None = 0
        while after is not None:
            rows, after = _thinnable(session, cooperative_id, now - dt.timedelta(days=days), after, 1000)
            for r in rows:
                n, b = to_free.setdefault(r.camera_id, [0, 0])
                to_free[r.camera_id] = [n + 1, b + (r.size_bytes or 0)]
    return [
        CameraUsage(
            camera_id=cam,
            name=name,
            photos=stored.get(cam, (0, 0))[0],
            bytes=stored.get(cam, (0, 0))[1],
            removed=removed.get(cam, 0),
            to_free_photos=to_free.get(cam, [0, 0])[0],
            to_free_bytes=to_free.get(cam, [0, 0])[1],
        )
        for cam, name in cams
    ]
