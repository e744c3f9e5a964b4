"""A pest's daily figure per plot, read the way each camera kind is read (docs/decisions.md, "Counting").

- *Sticky trap*: catches accumulate on the card, so a day's figure is the **new** insects: the day's last count minus
  the count at the start of the day, a replaced card (a farmer's "thay bẫy" mark, or a fall below half of the
  previous photo's count) starting again from zero. Never the sum over photos. With several traps on a plot the
  figure is the mean per trap (the unit of trap thresholds: insects per trap per day).
- *Garden or fruit camera*: a photo is a sample of the same plants, so a camera's day is its highest count in one
  photo; with several cameras the plot's figure is their mean (per sample).

The same function feeds the alerts, the automatic diary observation, the pressure chart and the union's
statistics, so every screen says the same number. One query for the photos and one for the counts, whatever the
number of days and plots.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from cropwatch.core.enums import CameraKind, CaptureStatus, ReviewState
from cropwatch.core.orm import Camera, Capture, Detection, TrapChange
from cropwatch.core.timeutil import LOCAL_TZ, local_day_bounds

#: a sticky-trap count that falls below this share of the previous photo's (by at least TRAP_DROP_MIN) is a new card
TRAP_DROP_SHARE = 0.5
TRAP_DROP_MIN = 3
#: how far before the first day a trap's earlier photos are read for the day's starting count
TRAP_LOOKBACK = dt.timedelta(days=2)

#: a rule's unit: new insects per trap per day | the highest count in one photo of a garden camera | automatic
UNITS = ("trap_day", "sample")


def unit_of_kind(kind: CameraKind | str | None) -> str:
    return "trap_day" if kind in (CameraKind.sticky_trap, CameraKind.sticky_trap.value) else "sample"


@dataclass(frozen=True)
class Figure:
    value: float
    unit: str  # trap_day | sample
    cameras: int  # how many cameras the figure combines

    def __float__(self) -> float:
        return self.value


def trap_new_catches(before: int | None, counts: Iterable[int], replaced: Iterable[bool] = ()) -> int:
    """New insects on a sticky trap over a day: the day's last count minus the count at the start of the day
    (``before``: the last photo before the day). A card replaced before a photo (``replaced[i]`` true: the farmer
    marked it) or a fall below half of the previous photo's count (by at least ``TRAP_DROP_MIN``) starts again
    from zero, and what the old card caught until then is kept."""
    base = prev = before or 0
    new = 0
    marks = list(replaced)
    for i, c in enumerate(counts):
        marked = i < len(marks) and marks[i]
        if marked or (c < prev * TRAP_DROP_SHARE and prev - c >= TRAP_DROP_MIN):
            new += max(0, prev - base)
            base = 0
        prev = c
    return new + max(0, prev - base)


@dataclass(frozen=True)
class _Photo:
    capture_id: int
    camera_id: int
    plot_id: int
    at: dt.datetime


def _done_between(plot_ids: Sequence[int], start: dt.datetime, end: dt.datetime) -> tuple:
    """The processed photos of ``plot_ids`` taken in [start, end): the condition every read here starts from."""
    return (
        Capture.plot_id.in_(plot_ids),
        Capture.status == CaptureStatus.done,
        Capture.captured_at >= start,
        Capture.captured_at < end,
    )


def _counted(min_score: float) -> tuple:
    """The detections a figure counts: at least ``min_score``, not rejected by a reviewer."""
    return Detection.score >= min_score, Detection.review_state != ReviewState.rejected


def _photos(session: Session, plot_ids: Sequence[int], start: dt.datetime, end: dt.datetime) -> list[_Photo]:
    rows = session.execute(
        select(Capture.id, Capture.camera_id, Capture.plot_id, Capture.captured_at)
        .where(*_done_between(plot_ids, start, end))
        .order_by(Capture.captured_at, Capture.id)
    )
    return [_Photo(*r) for r in rows]


def _counts(
    session: Session,
    plot_ids: Sequence[int],
    start: dt.datetime,
    end: dt.datetime,
    min_score: float,
    classes: Iterable[str] | None,
) -> dict[tuple[int, str], int]:
    q = (
        select(Detection.capture_id, Detection.class_name, func.count(Detection.id))
        .join(Capture, and_(Capture.id == Detection.capture_id))
        .where(*_done_between(plot_ids, start, end), *_counted(min_score))
        .group_by(Detection.capture_id, Detection.class_name)
    )
    if classes is not None:
        q = q.where(Detection.class_name.in_(list(classes)))
    return {(cid, name): int(n) for cid, name, n in session.execute(q)}


def _trap_changes(
    session: Session, camera_ids: Iterable[int], start: dt.datetime, end: dt.datetime
) -> dict[int, list[dt.datetime]]:
    out: dict[int, list[dt.datetime]] = defaultdict(list)
    ids = list(camera_ids)
    if not ids:
        return out
    for cam, at in session.execute(
        select(TrapChange.camera_id, TrapChange.changed_at)
        .where(TrapChange.camera_id.in_(ids), TrapChange.changed_at >= start, TrapChange.changed_at < end)
        .order_by(TrapChange.changed_at)
    ):
        out[cam].append(at)
    return out


def daily_figures(
    session: Session,
    *,
    plot_ids: Sequence[int],
    days: Sequence[dt.date],
    min_score: float,
    classes: Iterable[str] | None = None,
    unit: str | None = None,
) -> dict[tuple[int, str], dict[dt.date, Figure]]:
    """{(plot, class): {day: Figure}} for the given local days (only days with photos of that plot's cameras).

    ``unit`` picks the cameras: ``trap_day`` sticky traps only, ``sample`` garden and fruit cameras only, None the
    plot's traps when it has any that sent photos that day, else its other cameras."""
    if not plot_ids or not days:
        return {}
    first, last = min(days), max(days)
    start, end = local_day_bounds(first)[0] - TRAP_LOOKBACK, local_day_bounds(last)[1]
    photos = _photos(session, plot_ids, start, end)
    if not photos:
        return {}
    counts = _counts(session, plot_ids, start, end, min_score, classes)
    names = sorted({name for _, name in counts}) if classes is None else sorted(set(classes))
    camera_ids = {p.camera_id for p in photos}
    kinds = dict(session.execute(select(Camera.id, Camera.kind).where(Camera.id.in_(camera_ids))).all())
    traps = {cam for cam, kind in kinds.items() if kind == CameraKind.sticky_trap}
    changes = _trap_changes(session, traps, start, end)
    wanted = set(days)
    by_camera: dict[tuple[int, int], list[_Photo]] = defaultdict(list)  # a camera moved to another plot: apart
    for p in photos:
        by_camera[(p.camera_id, p.plot_id)].append(p)
    # per (plot, class, day): {camera: its figure}
    per_camera: dict[tuple[int, str, dt.date], dict[int, float]] = defaultdict(dict)
    for (cam, plot_id), cam_photos in by_camera.items():
        marks = changes.get(cam, [])
        by_day: dict[dt.date, list[int]] = defaultdict(list)
        for i, p in enumerate(cam_photos):
            by_day[p.at.astimezone(LOCAL_TZ).date()].append(i)
        for name in names:
            series = [counts.get((p.capture_id, name), 0) for p in cam_photos]
            if not any(series):
                continue
            for day, idx in by_day.items():
                if day not in wanted:
                    continue
                if cam in traps:
                    before = series[idx[0] - 1] if idx[0] > 0 else None
                    prev_at = cam_photos[idx[0] - 1].at if idx[0] > 0 else start
                    replaced = []
                    for i in idx:
                        replaced.append(any(prev_at < m <= cam_photos[i].at for m in marks))
                        prev_at = cam_photos[i].at
                    value = trap_new_catches(before, [series[i] for i in idx], replaced)
                else:
                    value = max(series[i] for i in idx)
                per_camera[(plot_id, name, day)][cam] = value
    seen_on: dict[tuple[int, dt.date], set[int]] = defaultdict(set)  # cameras that sent photos, per plot and day
    for p in photos:
        seen_on[(p.plot_id, p.at.astimezone(LOCAL_TZ).date())].add(p.camera_id)
    out: dict[tuple[int, str], dict[dt.date, Figure]] = defaultdict(dict)
    for (plot_id, name, day), values in per_camera.items():
        seen = seen_on[(plot_id, day)]  # a camera that sent photos but saw none of the class counts as 0
        day_traps = seen & traps
        if unit == "trap_day" or (unit is None and day_traps):
            cams, used = day_traps, "trap_day"
        else:
            cams, used = seen - traps, "sample"
        if not cams:
            continue
        value = sum(values.get(c, 0) for c in cams) / len(cams)
        out[(plot_id, name)][day] = Figure(round(value, 2), used, len(cams))
    return dict(out)


def daily_figure(
    session: Session, *, plot_id: int, class_name: str, day: dt.date, min_score: float, unit: str | None = None
) -> Figure | None:
    """The plot's figure for one pest and day (None: no photo of the matching cameras that day)."""
    got = daily_figures(session, plot_ids=[plot_id], days=[day], min_score=min_score, classes=[class_name], unit=unit)
    return got.get((plot_id, class_name), {}).get(day)


class DayFigures:
    """One plot's figures for one local day, read once per (minimum score, unit) for every pest at once: a capture's
    alert rules and its diary observation ask for several pests of the same day. For the pests of the day's photos
    these are :func:`daily_figures`' figures; a pest not seen that day may read None where :func:`daily_figures`
    says 0 (the same to every caller: no figure is a zero)."""

    def __init__(self, session: Session, *, plot_id: int, day: dt.date) -> None:
        self.session, self.plot_id, self.day = session, plot_id, day
        self._read: dict[tuple[float, str | None], dict[str, Figure]] = {}

    def get(self, class_name: str, *, min_score: float, unit: str | None = None) -> Figure | None:
        key = (min_score, unit)
        if key not in self._read:
            self._read[key] = self._figures(min_score, unit)
        return self._read[key].get(class_name)

    def _figures(self, min_score: float, unit: str | None) -> dict[str, Figure]:
        """Without a sticky trap in the reading, the highest count in one photo of each camera comes from one
        aggregate query, so the cost does not grow with the day's photos (a worker reads this once per plot and
        day of each batch: walking thousands of photos each time made a busy plot's captures ever dearer); a trap's
        new catches need its photos in order, through :func:`daily_figures`."""
        start, end = local_day_bounds(self.day)
        seen = dict(
            self.session.execute(
                select(Capture.camera_id, Camera.kind)
                .join(Camera, Camera.id == Capture.camera_id)
                .where(*_done_between([self.plot_id], start, end))
                .distinct()
            ).all()
        )
        traps = {cam for cam, kind in seen.items() if kind == CameraKind.sticky_trap}
        if traps and unit != "sample":
            got = daily_figures(self.session, plot_ids=[self.plot_id], days=[self.day], min_score=min_score, unit=unit)
            return {name: days[self.day] for (_, name), days in got.items() if self.day in days}
        cams = set(seen) - traps
        if not cams or unit == "trap_day":
            return {}
        per_photo = (
            select(Capture.camera_id, Detection.class_name, func.count(Detection.id).label("n"))
            .join(Capture, Capture.id == Detection.capture_id)
            .where(*_done_between([self.plot_id], start, end), Capture.camera_id.in_(cams), *_counted(min_score))
            .group_by(Detection.capture_id, Capture.camera_id, Detection.class_name)
            .subquery()
        )
        best: dict[str, float] = defaultdict(float)
        for _cam, name, n in self.session.execute(
            select(per_photo.c.camera_id, per_photo.c.class_name, func.max(per_photo.c.n)).group_by(
                per_photo.c.camera_id, per_photo.c.class_name
            )
        ):
            best[name] += int(n)
        return {name: Figure(round(total / len(cams), 2), "sample", len(cams)) for name, total in best.items()}


#: how many earlier seasons a seasonal rule reads (the same ISO week of each of the last N years)
SEASONS_BACK = 5


@dataclass(frozen=True)
class SeasonalFigure:
    """This week's figure (the mean of its days' figures so far) against the same week of earlier seasons."""

    week: float
    median: float
    seasons: int  # earlier seasons with photos in that week
    scope: str  # plot | cooperative (the plot has no earlier season: the cooperative's plots of its crop)


def _week_days(day: dt.date, years_back: int) -> list[dt.date]:
    """Monday to ``day``'s weekday of the same ISO week ``years_back`` ISO years earlier (none if that year has no
    such week, e.g. a week 53)."""
    year, week, weekday = day.isocalendar()
    try:
        monday = dt.date.fromisocalendar(year - years_back, week, 1)
    except ValueError:
        return []
    return [monday + dt.timedelta(days=i) for i in range(weekday)]


def _mean_week(
    session: Session, plot_ids: Sequence[int], days: list[dt.date], class_name: str, min_score: float, unit: str | None
) -> float | None:
    """The mean over ``plot_ids`` of each plot's mean daily figure over ``days`` (days with photos only); None when
    no plot had a photo of its cameras those days."""
    if not days:
        return None
    figures = daily_figures(session, plot_ids=plot_ids, days=days, min_score=min_score, classes=[class_name], unit=unit)
    seen = _plots_with_photos(session, plot_ids, days, unit)
    per_plot = []
    for plot_id in seen:
        values = figures.get((plot_id, class_name), {})
        photo_days = seen[plot_id]
        per_plot.append(sum(values.get(d).value if d in values else 0.0 for d in photo_days) / len(photo_days))
    return sum(per_plot) / len(per_plot) if per_plot else None


def _plots_with_photos(
    session: Session, plot_ids: Sequence[int], days: list[dt.date], unit: str | None
) -> dict[int, set[dt.date]]:
    """{plot: the local days among ``days`` with a processed photo of its cameras of ``unit``'s kind}."""
    start, end = local_day_bounds(min(days))[0], local_day_bounds(max(days))[1]
    q = (
        select(Capture.plot_id, Capture.captured_at, Camera.kind)
        .join(Camera, Camera.id == Capture.camera_id)
        .where(*_done_between(plot_ids, start, end))
    )
    wanted = set(days)
    out: dict[int, set[dt.date]] = defaultdict(set)
    for plot_id, at, kind in session.execute(q):
        if unit is not None and unit_of_kind(kind) != unit:
            continue
        d = (
            at.astimezone(LOCAL_TZ).date()
            if at.tzinfo
            else at.replace(tzinfo=dt.timezone.utc).astimezone(LOCAL_TZ).date()
        )
        if d in wanted:
            out[plot_id].add(d)
    return dict(out)


def seasonal_figure(
    session: Session,
    *,
    plot_id: int,
    peer_plot_ids: Sequence[int],
    class_name: str,
    day: dt.date,
    min_score: float,
    unit: str | None = None,
) -> SeasonalFigure | None:
    """This week so far (Monday to ``day``) against the median of the same ISO week in up to
    :data:`SEASONS_BACK` earlier years: the plot's own seasons, else (no earlier season of the plot has photos that
    week) the mean of ``peer_plot_ids`` (the cooperative's plots of the same crop). None without any earlier season."""
    week = _mean_week(session, [plot_id], _week_days(day, 0), class_name, min_score, unit) or 0.0
    for scope, plots in (("plot", [plot_id]), ("cooperative", list(peer_plot_ids))):
        if not plots:
            continue
        history = [
            v
            for k in range(1, SEASONS_BACK + 1)
            if (v := _mean_week(session, plots, _week_days(day, k), class_name, min_score, unit)) is not None
        ]
        if history:
            return SeasonalFigure(round(week, 2), round(statistics.median(history), 2), len(history), scope)
    return None
