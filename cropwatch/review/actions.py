"""Agronomist review of a capture's detections, and what follows from it.

Actions: confirm, reject (false positive), relabel, add a missed box, adjust a box, mark "no pest present".
Each writes a ``Review`` row (who, when, before → after). Human work is never overwritten by a model: the worker
writes model detections once per (capture, model version) and never touches reviewed rows. After an edit the
plot's day is recounted: an open alert whose count falls under its threshold is resolved with that reason, and
a class a reviewer added or relabelled into may raise an alert. The capture's automatic diary observation is
marked done by the review (with a revision).
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cropwatch.alerts import rules as alerts
from cropwatch.core.enums import (
    AlertStatus,
    CaptureStatus,
    DetectionSource,
    DiarySource,
    DiaryStatus,
    ModelTask,
    ReviewState,
)
from cropwatch.core.orm import (
    Alert,
    AlertRule,
    Camera,
    Capture,
    Detection,
    DiaryEntry,
    InferenceRun,
    ModelVersion,
    Plot,
    Review,
)
from cropwatch.core.timeutil import local_day, utcnow
from cropwatch.diary import entries as diary
from models import registry


class Action(str, enum.Enum):
    confirm = "confirm"
    reject = "reject"
    relabel = "relabel"
    add_box = "add_box"
    adjust_box = "adjust_box"
    no_pest = "no_pest"


class ReviewError(ValueError):
    """A review that cannot be applied; ``code`` is an i18n key."""

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.code, self.params = code, params


@dataclass(frozen=True)
class Box:
    x1: float
    y1: float
    x2: float
    y2: float

    def checked(self, width: int | None, height: int | None) -> "Box":
        vals = (self.x1, self.y1, self.x2, self.y2)
        if not all(math.isfinite(v) for v in vals) or self.x2 <= self.x1 or self.y2 <= self.y1:
            raise ReviewError("review_bad_box")
        if min(vals) < 0 or (width and self.x2 > width) or (height and self.y2 > height):
            raise ReviewError("review_bad_box")
        return self


def _det_state(d: Detection) -> dict:
    """What a review's history keeps of a detection: its record's JSON, its review state and where it came from."""
    return {**d.record.to_json(), "review_state": d.review_state.value, "source": d.source.value}


def capture_model(session: Session, capture: Capture) -> ModelVersion | None:
    """The model version whose classes a review of ``capture`` uses: the one that read it (its latest inference
    run), else the production model serving its camera now (the family for its kind or its plot's crop)."""
    run = session.scalar(
        select(InferenceRun).where(InferenceRun.capture_id == capture.id).order_by(InferenceRun.id.desc()).limit(1)
    )
    if run is not None and (mv := session.get(ModelVersion, run.model_version_id)) is not None:
        return mv
    camera = session.get(Camera, capture.camera_id)
    plot = session.get(Plot, capture.plot_id)
    return registry.production(
        session,
        camera.model_task if camera else ModelTask.pest,
        capture.cooperative_id,
        crop=plot.crop if plot else None,
        camera_kind=camera.kind if camera else None,
    )


def class_ids(session: Session, capture: Capture) -> dict[str, int]:
    """Class name → id in the model of the capture (:func:`capture_model`): the review keyboard's classes."""
    mv = capture_model(session, capture)
    return {name: int(k) for k, name in (mv.classes if mv else {}).items()}


def apply(
    session: Session,
    *,
    capture: Capture,
    user_id: int,
    action: Action | str,
    detection_id: int | None = None,
    class_name: str | None = None,
    box: Box | None = None,
    note: str | None = None,
) -> list[Review]:
    """Apply one review action to ``capture`` (already scoped to the caller's cooperative)."""
    action = Action(action)
    _mark_reviewed(session, capture)  # first: the row is this transaction's before anything else is written
    ids = class_ids(session, capture)
    touched: set[str] = set()
    reviews: list[Review] = []

    def review(det: Detection | None, before: dict | None, after: dict | None) -> None:
        reviews.append(
            Review(
                cooperative_id=capture.cooperative_id,
                capture_id=capture.id,
                detection_id=det.id if det else None,
                user_id=user_id,
                action=action.value,
                before=before,
                after=(after or {}) | ({"note": note} if note else {}),
            )
        )

    def detection() -> Detection:
        det = session.get(Detection, detection_id) if detection_id is not None else None
        if det is None or det.capture_id != capture.id:
            raise ReviewError("not_found", what="detection")
        return det

    def known(name: str | None) -> str:
        if not name or (ids and name not in ids):
            raise ReviewError("review_unknown_class", name=name or "", known=", ".join(sorted(ids)))
        return name

    if action in (Action.confirm, Action.reject):
        det = detection()
        before = _det_state(det)
        det.review_state = ReviewState.confirmed if action == Action.confirm else ReviewState.rejected
        touched.add(det.class_name)
        review(det, before, _det_state(det))
    elif action == Action.relabel:
        det = detection()
        name = known(class_name)
        before = _det_state(det)
        touched |= {det.class_name, name}
        det.class_name, det.class_id, det.review_state = name, ids.get(name, -1), ReviewState.relabeled
        review(det, before, _det_state(det))
    elif action == Action.adjust_box:
        det = detection()
        if box is None:
            raise ReviewError("review_bad_box")
        b = box.checked(capture.width, capture.height)
        before = _det_state(det)
        det.x1, det.y1, det.x2, det.y2 = b.x1, b.y1, b.x2, b.y2
        if det.review_state == ReviewState.unreviewed:
            det.review_state = ReviewState.confirmed
        touched.add(det.class_name)
        review(det, before, _det_state(det))
    elif action == Action.add_box:
        name = known(class_name)
        if box is None:
            raise ReviewError("review_bad_box")
        b = box.checked(capture.width, capture.height)
        det = Detection(
            cooperative_id=capture.cooperative_id,
            capture_id=capture.id,
            run_id=None,
            model_version_id=None,
            class_id=ids.get(name, -1),
            class_name=name,
            score=1.0,
            x1=b.x1,
            y1=b.y1,
            x2=b.x2,
            y2=b.y2,
            source=DetectionSource.human,
            review_state=ReviewState.confirmed,
        )
        session.add(det)
        session.flush()
        touched.add(name)
        review(det, None, _det_state(det))
    elif action == Action.no_pest:
        for det in session.scalars(select(Detection).where(Detection.capture_id == capture.id)):
            if det.review_state != ReviewState.rejected:
                before = _det_state(det)
                det.review_state = ReviewState.rejected
                touched.add(det.class_name)
                review(det, before, _det_state(det))
        if not reviews:
            review(None, None, {"no_pest": True})
    session.add_all(reviews)
    session.flush()
    recount(session, capture=capture, class_names=touched, user_id=user_id)
    _close_observation(session, capture, user_id)
    return reviews


def _mark_reviewed(session: Session, capture: Capture) -> None:
    """Set ``reviewed_at`` with a conditional UPDATE that refuses a photo the retention job removed: the job marks
    its photos with a conditional UPDATE too, so the two ordered on the row end with the photo reviewed and kept, or
    the review refused (``cropwatch.captures.retention``)."""
    now = utcnow()
    marked = session.execute(
        update(Capture)
        .where(Capture.id == capture.id, Capture.purged_at.is_(None))
        .values(reviewed_at=now)
        .execution_options(synchronize_session=False)
    )
    if marked.rowcount != 1:
        raise ReviewError("review_photo_removed")
    capture.reviewed_at = now


def recount(session: Session, *, capture: Capture, class_names: Iterable[str], user_id: int | None) -> None:
    """Recount the capture's plot and day for ``class_names``; resolve alerts that fall under their threshold and
    raise the ones a reviewer's boxes now justify."""
    plot = session.get(Plot, capture.plot_id)
    day = local_day(capture.captured_at)
    names = set(class_names)
    for alert in session.scalars(
        select(Alert).where(
            Alert.plot_id == plot.id,
            Alert.class_name.in_(names),
            Alert.local_day == day,
            Alert.status != AlertStatus.resolved,
        )
    ).all():
        rule = session.get(AlertRule, alert.rule_id) if alert.rule_id else None
        min_score = rule.min_score if rule else 0.0
        count = alerts.daily_count(session, plot_id=plot.id, class_name=alert.class_name, day=day, min_score=min_score)
        if count < alert.threshold:
            alert.status, alert.resolved_at = AlertStatus.resolved, utcnow()
            alert.resolution = (
                f"review: {count} {alert.class_name} after review, under the threshold "
                f"{alert.threshold} (rejected as false positives)"
            )
        alert.count = count
    if names:
        alerts.evaluate(session, capture=capture, plot=plot, class_names=names)


def _close_observation(session: Session, capture: Capture, user_id: int) -> None:
    """A reviewed photo confirms the day's automatic observations it is evidence of (its plot's, that day)."""
    from cropwatch.core.timeutil import local_day, local_day_bounds

    start, end = local_day_bounds(local_day(capture.captured_at))
    for entry in session.scalars(
        select(DiaryEntry).where(
            DiaryEntry.plot_id == capture.plot_id,
            DiaryEntry.occurred_at >= start,
            DiaryEntry.occurred_at < end,
            DiaryEntry.source == DiarySource.automatic,
            DiaryEntry.status == DiaryStatus.pending,
        )
    ):
        entry.status = DiaryStatus.done
        diary.record_revision(session, entry, user_id=user_id)


# -- the queue ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueItem:
    capture_id: int
    priority: float
    reasons: list[str]
    plot_id: int
    captured_at: dt.datetime
    detections: int
    classes: list[str]


def queue(
    session: Session,
    *,
    cooperative_id: int,
    threshold: float,
    limit: int = 50,
    plot_id: int | None = None,
    class_name: str | None = None,
    min_score: float | None = None,
    max_score: float | None = None,
    random_share: float = 0.1,
    salt: str = "",
) -> list[QueueItem]:
    """Unreviewed captures of the cooperative, those that teach the model most first: a farmer flagged it, a score
    near the alert threshold, a rare class, plus a stable random sample (``random_share`` of captures, chosen by a
    hash of id and ``salt`` — e.g. the day — so the sample is unbiased but does not shuffle on every request)."""
    q = (
        select(Capture)
        .where(
            Capture.cooperative_id == cooperative_id,
            Capture.reviewed_at.is_(None),
            Capture.status == CaptureStatus.done,
        )
        .order_by(Capture.captured_at.desc())
        .limit(1000)
    )
    if plot_id is not None:
        q = q.where(Capture.plot_id == plot_id)
    caps = session.scalars(q).all()
    if not caps:
        return []
    dets: dict[int, list[Detection]] = {}
    for d in session.scalars(select(Detection).where(Detection.capture_id.in_([c.id for c in caps]))):
        dets.setdefault(d.capture_id, []).append(d)
    freq = Counter(
        dict(
            session.execute(
                select(Detection.class_name, func.count(Detection.id))
                .where(Detection.cooperative_id == cooperative_id)
                .group_by(Detection.class_name)
            ).all()
        )
    )
    total = sum(freq.values()) or 1
    items = []
    for cap in caps:
        ds = dets.get(cap.id, [])
        if class_name is not None and not any(d.class_name == class_name for d in ds):
            continue
        if min_score is not None and not any(d.score >= min_score for d in ds):
            continue
        if max_score is not None and not any(d.score <= max_score for d in ds):
            continue
        reasons, priority = [], 0.0
        if cap.flagged_at is not None:
            reasons.append("flagged_by_farmer")
            priority += 3
        if ds:
            closeness = max(1 - min(abs(d.score - threshold) / 0.25, 1) for d in ds)
            if closeness > 0:
                reasons.append("near_threshold")
                priority += 2 * closeness
            rarity = max(1 - freq.get(d.class_name, 0) / total for d in ds)
            if min(freq.get(d.class_name, 0) for d in ds) / total < 0.05:
                reasons.append("rare_class")
                priority += rarity
        h = int(hashlib.sha256(f"{salt}:{cap.id}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        if h < random_share:
            reasons.append("random_sample")
            priority += 1
        if reasons:
            items.append(
                QueueItem(
                    cap.id,
                    round(priority, 4),
                    reasons,
                    cap.plot_id,
                    cap.captured_at,
                    len(ds),
                    sorted({d.class_name for d in ds}),
                )
            )
    items.sort(key=lambda i: (-i.priority, -i.capture_id))
    return items[:limit]


def _verdicts(session: Session, cooperative_id: int) -> list[tuple[str, str, dt.datetime]]:
    """(class the model said, confirmed | rejected | relabeled, when) for every review of a model detection."""
    rows = session.execute(
        select(Review.before, Review.action, Review.created_at)
        .where(
            Review.cooperative_id == cooperative_id,
            Review.action.in_([Action.confirm.value, Action.reject.value, Action.relabel.value, Action.no_pest.value]),
        )
        .order_by(Review.id)
    ).all()
    verdict = {Action.confirm.value: "confirmed", Action.relabel.value: "relabeled"}
    return [
        (before["class_name"], verdict.get(action, "rejected"), at)
        for before, action, at in rows
        if before and before.get("source") != DetectionSource.human.value
    ]


def _tally(c: Counter) -> dict[str, float | int | None]:
    n = c["confirmed"] + c["rejected"] + c["relabeled"]
    return {
        "confirmed": c["confirmed"],
        "rejected": c["rejected"],
        "relabeled": c["relabeled"],
        "precision": round(c["confirmed"] / n, 4) if n else None,
    }


def agreement_over_time(session: Session, *, cooperative_id: int) -> list[dict]:
    """Per ISO week (local time) and class: reviewers' verdicts on the model's detections and the precision."""
    buckets: dict[tuple[str, str], Counter] = {}
    for name, verdict, at in _verdicts(session, cooperative_id):
        year, week, _ = local_day(at).isocalendar()
        buckets.setdefault((f"{year}-W{week:02d}", name), Counter())[verdict] += 1
    return [{"week": week, "class_name": name, **_tally(c)} for (week, name), c in sorted(buckets.items())]


def agreement(session: Session, *, cooperative_id: int) -> dict[str, dict[str, float | int | None]]:
    """Per class: how often reviewers agreed with the model's detections (precision against human verdicts)."""
    out: dict[str, Counter] = {}
    for name, verdict, _ in _verdicts(session, cooperative_id):
        out.setdefault(name, Counter())[verdict] += 1
    return {name: _tally(c) for name, c in sorted(out.items())}
