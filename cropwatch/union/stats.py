"""What a union admin reads: the cooperatives of the union and their counts (captures, alerts by level, pests by
crop and month). Counts only: nothing here names a member, a plot or a photo."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cropwatch.alerts.counts import daily_figures
from cropwatch.alerts.rules import FRUIT_CLASSES
from cropwatch.core.enums import AlertLevel, CaptureStatus
from cropwatch.core.orm import Alert, Capture, Cooperative, Plot
from cropwatch.core.timeutil import LOCAL_TZ, local_day_bounds, utcnow

#: the alert levels the union's table shows, most serious first
LEVELS = (AlertLevel.danger, AlertLevel.warning, AlertLevel.watch)
#: the rules' default minimum score, as on the pressure page
MIN_SCORE = 0.25


def cooperatives_of(session: Session, home_id: int) -> tuple[Cooperative, list[Cooperative]]:
    """The union admin's home cooperative and every cooperative sharing its union code (just home without one)."""
    home = session.get(Cooperative, home_id)
    if not home.union_code:
        return home, [home]
    return home, list(
        session.scalars(
            select(Cooperative)
            .where(Cooperative.union_code == home.union_code)
            .order_by(Cooperative.name, Cooperative.id)
        )
    )


def local_months(months: int, now: dt.datetime | None = None) -> list[tuple[str, dt.datetime]]:
    """The last ``months`` local (Asia/Ho_Chi_Minh) calendar months, oldest first: ("2025-03", UTC start)."""
    today = (now or utcnow()).astimezone(LOCAL_TZ).date()
    y, m = today.year, today.month
    out = []
    for _ in range(months):
        out.append((f"{y:04d}-{m:02d}", local_day_bounds(dt.date(y, m, 1))[0]))
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out[::-1]


def union_stats(session: Session, coop_ids: list[int], months: int, now: dt.datetime | None = None) -> dict:
    """Counts only, per cooperative: captures, alerts by level, pests by crop / local month / class.

    Pests: the sum of the plots' daily figures (detections a reviewer did not reject, fruit-ripeness classes left
    out), so the union reads the numbers its cooperatives' alerts and charts show."""
    buckets = local_months(months, now)
    start = buckets[0][1]
    captures = dict(
        session.execute(
            select(Capture.cooperative_id, func.count(Capture.id))
            .where(
                Capture.cooperative_id.in_(coop_ids),
                Capture.captured_at >= start,
                Capture.status != CaptureStatus.pending,
            )
            .group_by(Capture.cooperative_id)
        ).all()
    )
    alerts: dict[int, dict[str, int]] = {cid: {lv.value: 0 for lv in LEVELS} for cid in coop_ids}
    for cid, level, n in session.execute(
        select(Alert.cooperative_id, Alert.level, func.count(Alert.id))
        .where(Alert.cooperative_id.in_(coop_ids), Alert.created_at >= start)
        .group_by(Alert.cooperative_id, Alert.level)
    ):
        alerts[cid][AlertLevel(level).value] = n
    # pests: the plots' daily figures as the alerts count them (cropwatch/alerts/counts.py: new catches per trap, the
    # highest photo of a garden camera), summed per cooperative, crop, local month and class - never the detections
    # of every photo, which would count the insects on a sticky trap again in each photo
    plots = session.execute(select(Plot.id, Plot.cooperative_id, Plot.crop).where(Plot.cooperative_id.in_(coop_ids)))
    plot_info = {pid: (cid, crop) for pid, cid, crop in plots}
    today = (now or utcnow()).astimezone(LOCAL_TZ).date()
    first = start.astimezone(LOCAL_TZ).date()
    days = [first + dt.timedelta(days=i) for i in range((today - first).days + 1)]
    sums: dict[tuple[int, str, str, str], float] = defaultdict(float)
    figures = daily_figures(session, plot_ids=list(plot_info), days=days, min_score=MIN_SCORE)
    for (plot_id, cls), per_day in figures.items():
        if cls in FRUIT_CLASSES:
            continue
        cid, crop = plot_info[plot_id]
        for day, fig in per_day.items():
            sums[(cid, crop, f"{day.year:04d}-{day.month:02d}", cls)] += fig.value
    pests = [(cid, crop, m, cls, round(n, 1)) for (cid, crop, m, cls), n in sums.items() if n > 0]
    pests.sort(key=lambda r: (r[0], r[1], r[2], r[3]))
    return {"months": [b[0] for b in buckets], "captures": captures, "alerts": alerts, "pests": pests}
