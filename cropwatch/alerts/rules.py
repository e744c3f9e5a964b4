"""Alert rules: count of a pest class per plot per local day over a threshold, with a cooldown.

One alert stays open per (plot, pest, level) and is updated as the count grows; the partial
unique index on the table makes this hold under concurrent workers too.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cropwatch.alerts.counts import (  # noqa: F401 - trap_new_catches: re-exported
    DayFigures,
    SeasonalFigure,
    daily_figure,
    seasonal_figure,
    trap_new_catches,
)
from cropwatch.alerts.rule_text import unit_text
from cropwatch.core.enums import AlertLevel, AlertStatus
from cropwatch.core.i18n import fmt_number, t
from cropwatch.core.orm import Alert, AlertRule, Capture, Plot
from cropwatch.core.timeutil import fmt_date, fmt_datetime, local_day, utcnow

log = logging.getLogger(__name__)

LEVEL_ORDER = {AlertLevel.watch: 0, AlertLevel.warning: 1, AlertLevel.danger: 2}


def daily_count(
    session: Session, *, plot_id: int, class_name: str, day: dt.date, min_score: float, unit: str | None = None
) -> float:
    """The plot's figure for a pest on a local day, read the way each camera kind is read
    (:mod:`cropwatch.alerts.counts`): new catches per trap, or the highest count in one photo of a garden camera."""
    fig = daily_figure(session, plot_id=plot_id, class_name=class_name, day=day, min_score=min_score, unit=unit)
    return fig.value if fig else 0


def _figure_unit(figures: DayFigures, *, class_name: str, min_score: float, unit: str | None) -> tuple[float, str]:
    fig = figures.get(class_name, min_score=min_score, unit=unit)
    return (fig.value, fig.unit) if fig else (0, unit or "sample")


def _card_texts(
    key: str, *, level: AlertLevel, pest_vi: str, pest_en: str, plot: Plot, day: dt.date, unit: str | None, **extra
) -> tuple[str, str]:
    """A card's text in both languages from catalogue ``key``: level, pest, plot, unit and date, plus ``extra``
    (numbers written in each language; a callable value is called with the language)."""

    def one(lang: str, pest: str) -> str:
        values = {k: v(lang) if callable(v) else v for k, v in extra.items()}
        return t(
            key,
            lang,
            level=t(f"level_{level.value}", lang),
            pest=pest,
            plot=plot.name,
            unit=unit_text(unit, lang),
            date=fmt_date(day),
            **values,
        )

    return one("vi", pest_vi), one("en", pest_en)


def alert_messages(
    *,
    level: AlertLevel,
    pest_vi: str,
    pest_en: str,
    plot: Plot,
    count: float,
    threshold: int,
    day: dt.date,
    unit: str | None = None,
) -> tuple[str, str]:
    """The card's text in both languages: level, pest, plot, the figure with its unit, the threshold."""
    return _card_texts(
        "alert_pest",
        level=level,
        pest_vi=pest_vi,
        pest_en=pest_en,
        plot=plot,
        day=day,
        unit=unit,
        count=lambda lang: fmt_number(count, lang),
        threshold=lambda lang: fmt_number(threshold, lang),
    )


def seasonal_messages(
    *, level: AlertLevel, pest_vi: str, pest_en: str, plot: Plot, fig: SeasonalFigure, day: dt.date, unit: str | None
) -> tuple[str, str]:
    """A seasonal rule's card: this week's daily mean against the median of the same week in earlier seasons."""
    return _card_texts(
        "alert_seasonal",
        level=level,
        pest_vi=pest_vi,
        pest_en=pest_en,
        plot=plot,
        day=day,
        unit=unit,
        count=lambda lang: fmt_number(fig.week, lang),
        median=lambda lang: fmt_number(fig.median, lang),
        seasons=fig.seasons,
        scope=lambda lang: t(f"seasonal_scope_{fig.scope}", lang),
    )


def _seasonal(session: Session, *, rule: AlertRule, plot: Plot, day: dt.date) -> SeasonalFigure | None:
    """The rule's figure when this week is above the usual: at least ``threshold`` a day on average, and above the
    median of earlier seasons by more than ``params.margin_pct`` percent (default 0: above it at all)."""
    peers = list(
        session.scalars(
            select(Plot.id).where(
                Plot.cooperative_id == plot.cooperative_id, Plot.crop == plot.crop, Plot.id != plot.id
            )
        )
    )
    fig = seasonal_figure(
        session,
        plot_id=plot.id,
        peer_plot_ids=peers,
        class_name=rule.class_name,
        day=day,
        min_score=rule.min_score,
        unit=rule.unit,
    )
    if fig is None or fig.week < rule.threshold:
        return None
    margin = float((rule.params or {}).get("margin_pct", 0))
    return fig if fig.week > fig.median * (1 + margin / 100) else None


def evaluate(
    session: Session,
    *,
    capture: Capture,
    plot: Plot,
    class_names: Iterable[str],
    names_vi: dict[str, str] | None = None,
    figures: DayFigures | None = None,
) -> list[Alert]:
    """Apply the cooperative's rules to the plot's day of this capture; returns alerts opened or updated.
    ``figures``: the plot's day figures when the caller reads them too (the diary observation)."""
    classes = set(class_names)
    if not classes:
        return []
    rules = session.scalars(
        select(AlertRule).where(
            AlertRule.cooperative_id == capture.cooperative_id,
            AlertRule.enabled.is_(True),
            AlertRule.class_name.in_(classes | ({"harvest_window"} if classes & set(FRUIT_CLASSES) else set())),
        )
    ).all()
    day = local_day(capture.captured_at)
    figures = figures or DayFigures(session, plot_id=plot.id, day=day)
    touched: list[Alert] = []
    fired: dict[str, list[tuple[AlertRule, int, tuple[int, int] | None]]] = {}  # pest → rules reached today
    read: dict[tuple[str, float, str | None], tuple[float, str]] = {}
    for rule in rules:
        if rule.crop and rule.crop != plot.crop or rule.kind == "silence":
            continue
        if rule.kind == "harvest_window":
            alert = _harvest_window(session, rule=rule, capture=capture, plot=plot, day=day)
            if alert is not None:
                touched.append(alert)
            continue
        if rule.kind == "seasonal":
            seasonal = _seasonal(session, rule=rule, plot=plot, day=day)
            if seasonal is not None:
                fired.setdefault(rule.class_name, []).append((rule, seasonal.week, seasonal, rule.unit))
            continue
        key = (rule.class_name, rule.min_score, rule.unit)  # the warning and danger rules of a pest read one figure
        if key not in read:
            read[key] = _figure_unit(figures, class_name=rule.class_name, min_score=rule.min_score, unit=rule.unit)
        count, unit = read[key]
        if count < rule.threshold:
            continue
        extra = None
        if rule.kind == "trend":
            before = daily_count(
                session,
                plot_id=plot.id,
                class_name=rule.class_name,
                day=day - dt.timedelta(days=1),
                min_score=rule.min_score,
                unit=unit,
            )
            rise = float((rule.params or {}).get("rise_pct", 50))
            if before == 0 or (count - before) * 100 / before < rise:
                continue
            extra = (round((count - before) * 100 / before), before)
        fired.setdefault(rule.class_name, []).append((rule, count, extra, unit))
    for class_name, reached in fired.items():
        # one card per plot and pest: the highest level any of its rules reaches today (watch → warning → danger)
        rule, count, chosen_extra, unit = max(reached, key=lambda r: (LEVEL_ORDER[r[0].level], r[1]))
        trend = next((e for _, _, e, _ in reached if isinstance(e, tuple)), None)
        seasonal = chosen_extra if isinstance(chosen_extra, SeasonalFigure) else None
        alert = _upsert(
            session,
            rule=rule,
            capture=capture,
            plot=plot,
            count=count,
            unit=unit,
            day=day,
            pest_vi=(names_vi or {}).get(class_name, class_name),
            trend=trend,
            seasonal=seasonal,
        )
        if alert is not None:
            touched.append(alert)
    return touched


def _upsert(
    session: Session,
    *,
    rule: AlertRule,
    capture: Capture,
    plot: Plot,
    count: float,
    day: dt.date,
    pest_vi: str,
    trend: tuple[int, float] | None = None,
    unit: str | None = None,
    seasonal: SeasonalFigure | None = None,
) -> Alert | None:
    """Open, update or escalate the plot's one alert for this pest. It never steps down while open (a lower rule
    only updates the count); a rise to a higher level is a new notification (deliveries are per level)."""
    open_alert = session.scalar(
        select(Alert)
        .where(
            Alert.plot_id == plot.id,
            Alert.class_name == rule.class_name,
            Alert.status != AlertStatus.resolved,
        )
        .order_by(Alert.id)
    )
    level, threshold = rule.level, rule.threshold
    escalate = open_alert is not None and LEVEL_ORDER[rule.level] > LEVEL_ORDER[open_alert.level]
    if open_alert is not None and not escalate:
        level, threshold = open_alert.level, open_alert.threshold
    vi, en = alert_messages(
        level=level,
        pest_vi=pest_vi,
        pest_en=rule.class_name,
        plot=plot,
        count=count,
        threshold=threshold,
        day=day,
        unit=unit,
    )
    if seasonal is not None:
        vi, en = seasonal_messages(
            level=level, pest_vi=pest_vi, pest_en=rule.class_name, plot=plot, fig=seasonal, day=day, unit=unit
        )
    if trend is not None:
        vi += " " + t("alert_trend", "vi", pct=trend[0], before=fmt_number(trend[1], "vi"))
        en += " " + t("alert_trend", "en", pct=trend[0], before=fmt_number(trend[1], "en"))
    count = math.floor(count)  # the card's integer count: at or over the threshold exactly when the figure is
    if open_alert is not None:
        if not escalate and open_alert.local_day == day and open_alert.count >= count:
            return None
        open_alert.count, open_alert.local_day = count, day
        open_alert.message_vi, open_alert.message_en = vi, en
        open_alert.evidence_capture_id = capture.id
        open_alert.updated_at = utcnow()
        if escalate:
            open_alert.level, open_alert.threshold, open_alert.rule_id = rule.level, rule.threshold, rule.id
            if open_alert.status == AlertStatus.acknowledged:  # worse than what was seen: it needs a look again
                open_alert.status = AlertStatus.open
            session.flush()
            from cropwatch.alerts.notify import queue_deliveries

            queue_deliveries(session, open_alert)
        return open_alert
    last_resolved = session.scalar(
        select(func.max(Alert.resolved_at)).where(Alert.plot_id == plot.id, Alert.class_name == rule.class_name)
    )
    if last_resolved and utcnow() - last_resolved < dt.timedelta(minutes=rule.cooldown_minutes):
        return None
    alert = Alert(
        cooperative_id=capture.cooperative_id,
        rule_id=rule.id,
        plot_id=plot.id,
        class_name=rule.class_name,
        level=rule.level,
        status=AlertStatus.open,
        count=count,
        threshold=rule.threshold,
        local_day=day,
        message_vi=vi,
        message_en=en,
        evidence_capture_id=capture.id,
    )
    session.add(alert)
    session.flush()
    from cropwatch.alerts.notify import queue_deliveries  # the outbox row is written with the alert

    queue_deliveries(session, alert)
    return alert


RIPE_CLASSES = ("ripe", "overripe")
FRUIT_CLASSES = ("unripe", "turning", "ripe", "overripe")


def ripe_share(session: Session, *, plot_id: int, day: dt.date, min_score: float) -> tuple[float, int] | None:
    """(share of fruit detected ripe or overripe on the plot that day, fruit counted); None without fruit."""
    counts = {
        c: daily_count(session, plot_id=plot_id, class_name=c, day=day, min_score=min_score) for c in FRUIT_CLASSES
    }
    total = sum(counts.values())
    if total == 0:
        return None
    return sum(counts[c] for c in RIPE_CLASSES) / total, total


def harvest_eta_days(shares: list[tuple[int, float]], target: float) -> float | None:
    """Days from the last point until the ripe share reaches ``target``, by a least-squares line through
    (day offset, share); 0 when already there, None when the share is not rising."""
    if shares and shares[-1][1] >= target:
        return 0.0
    if len(shares) < 2:
        return None
    xs = [float(x) for x, _ in shares]
    ys = [y for _, y in shares]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else 0.0
    if slope <= 0:
        return None
    return max(0.0, (target - ys[-1]) / slope)


def _harvest_window(session: Session, *, rule: AlertRule, capture: Capture, plot: Plot, day: dt.date) -> Alert | None:
    """``harvest_window`` rule (class_name ``harvest_window``): when the ripe share of the plot's fruit passes
    ``params.share`` (e.g. 0.3), say so, with the estimated days until ``params.target`` (e.g. 0.8) from the trend of
    the last ``params.days`` days (default 7)."""
    p = rule.params or {}
    share_level, target, days = float(p.get("share", 0.3)), float(p.get("target", 0.8)), int(p.get("days", 7))
    today = ripe_share(session, plot_id=plot.id, day=day, min_score=rule.min_score)
    if today is None or today[0] < share_level:
        return None
    series = []
    for back in range(days - 1, -1, -1):
        d = day - dt.timedelta(days=back)
        got = ripe_share(session, plot_id=plot.id, day=d, min_score=rule.min_score)
        if got is not None:
            series.append((days - 1 - back, got[0]))
    eta = harvest_eta_days(series, target)
    eta_text = (
        {"vi": "chưa ước lượng được", "en": "not yet estimable"}
        if eta is None
        else {"vi": f"khoảng {round(eta)} ngày", "en": f"about {round(eta)} days"}
    )
    common = dict(plot=plot.name, share=round(today[0] * 100), total=today[1], target=round(target * 100))
    vi = t("alert_harvest", "vi", eta=eta_text["vi"], **common)
    en = t("alert_harvest", "en", eta=eta_text["en"], **common)
    open_alert = session.scalar(
        select(Alert).where(
            Alert.plot_id == plot.id,
            Alert.class_name == rule.class_name,
            Alert.level == rule.level,
            Alert.status != AlertStatus.resolved,
        )
    )
    if open_alert is not None:
        if open_alert.message_vi == vi:
            return None
        open_alert.message_vi, open_alert.message_en, open_alert.local_day = vi, en, day
        open_alert.count, open_alert.evidence_capture_id = round(today[0] * 100), capture.id
        return open_alert
    alert = Alert(
        cooperative_id=capture.cooperative_id,
        rule_id=rule.id,
        plot_id=plot.id,
        class_name=rule.class_name,
        level=rule.level,
        status=AlertStatus.open,
        count=round(today[0] * 100),
        threshold=round(share_level * 100),
        local_day=day,
        message_vi=vi,
        message_en=en,
        evidence_capture_id=capture.id,
    )
    session.add(alert)
    session.flush()
    from cropwatch.alerts.notify import queue_deliveries

    queue_deliveries(session, alert)
    return alert


def check_silent_cameras(
    session: Session, *, now: dt.datetime | None = None, cooperative_id: int | None = None
) -> list[Alert]:
    """``silence`` rules: a plot with a camera whose last upload is older than ``params.hours`` (default 6) gets one
    open alert (class ``camera_silent``); it resolves itself when *every* camera of the plot is heard from again
    (a live camera beside a silent one does not close it, so the alert does not flap on each sweep).
    ``cooperative_id`` limits the check to one cooperative (the sweeper runs one transaction per cooperative)."""
    from cropwatch.core.orm import Camera

    now = now or utcnow()
    touched = []
    rules = select(AlertRule).where(AlertRule.kind == "silence", AlertRule.enabled.is_(True))
    if cooperative_id is not None:
        rules = rules.where(AlertRule.cooperative_id == cooperative_id)
    for rule in session.scalars(rules.order_by(AlertRule.id)):
        hours = float((rule.params or {}).get("hours", 6))
        silent_by_plot: dict[int, list] = {}
        for cam in session.scalars(
            select(Camera)
            .where(Camera.cooperative_id == rule.cooperative_id, Camera.token_revoked_at.is_(None))
            .order_by(Camera.id)
        ):
            seen = cam.last_seen_at or cam.created_at
            seen = seen if seen.tzinfo else seen.replace(tzinfo=dt.timezone.utc)
            silent = silent_by_plot.setdefault(cam.plot_id, [])
            if now - seen >= dt.timedelta(hours=hours):
                silent.append((cam, seen))
        for plot_id, silent in silent_by_plot.items():
            open_alert = session.scalar(
                select(Alert).where(
                    Alert.plot_id == plot_id,
                    Alert.class_name == SILENT,
                    Alert.level == rule.level,
                    Alert.status != AlertStatus.resolved,
                )
            )
            if not silent:
                if open_alert is not None:
                    open_alert.status, open_alert.resolved_at = AlertStatus.resolved, now
                    open_alert.resolution = "camera heard from again"
                continue
            if open_alert is not None:
                continue
            cam, seen = silent[0]
            plot = session.get(Plot, plot_id)
            common = dict(camera=cam.name, plot=plot.name, since=fmt_datetime(seen), hours=f"{hours:g}")
            alert = Alert(
                cooperative_id=rule.cooperative_id,
                rule_id=rule.id,
                plot_id=plot.id,
                class_name=SILENT,
                level=rule.level,
                status=AlertStatus.open,
                count=0,
                threshold=0,
                local_day=local_day(now),
                message_vi=t("alert_silent", "vi", **common),
                message_en=t("alert_silent", "en", **common),
            )
            session.add(alert)
            session.flush()
            from cropwatch.alerts.notify import queue_deliveries

            queue_deliveries(session, alert)
            touched.append(alert)
    return touched


def check_silent_cameras_each(sessions, *, now: dt.datetime | None = None) -> list[str]:
    """:func:`check_silent_cameras` for every cooperative, one transaction each: a bad row of one cooperative is
    logged and cannot stop the others' silence alerts. Returns the new alerts' messages (English, for the log)."""
    from cropwatch.core.orm import Cooperative

    with sessions() as s:
        coops = list(s.scalars(select(Cooperative.id).order_by(Cooperative.id)))
    messages = []
    for coop_id in coops:
        try:
            with sessions.begin() as s:
                messages += [a.message_en for a in check_silent_cameras(s, now=now, cooperative_id=coop_id)]
        except Exception:
            log.exception("silence check of cooperative %s failed", coop_id)
    return messages


SILENT = "camera_silent"
