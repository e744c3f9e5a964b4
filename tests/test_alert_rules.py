"""Alert rules on a synthetic week of captures: thresholds, day-over-day trends, cooldown, silent cameras."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from factories import make_tenant, processed_capture
from sqlalchemy import select

from cropwatch.alerts import rules as alerts
from cropwatch.core.enums import AlertLevel, AlertStatus, CaptureStatus
from cropwatch.core.orm import Alert, AlertRule, Camera, Capture, Detection, Plot
from cropwatch.core.timeutil import local_day_bounds, utcnow

WEEK = [dt.date(2026, 11, 16) + dt.timedelta(days=i) for i in range(7)]


def _capture_with(s, tenant, day: dt.date, counts: dict[str, int]) -> list:
    """A processed capture on ``day`` with ``counts`` detections per class; the rules evaluated on it."""
    start, _ = local_day_bounds(day)
    cap = processed_capture(s, tenant, when=start + dt.timedelta(hours=9), counts=counts, score=0.8, class_id=0)
    return alerts.evaluate(
        s, capture=cap, plot=s.get(Plot, tenant.plot_id), class_names=set(counts), names_vi={"planthopper": "rầy nâu"}
    )


def _captures(s, tenant, day: dt.date, n: int, cls: str = "planthopper") -> list:
    return _capture_with(s, tenant, day, {cls: n})


def _rule(s, tenant, **kw):
    s.add(
        AlertRule(
            cooperative_id=tenant.cooperative_id,
            name=kw.get("kind", "threshold"),
            class_name=kw.pop("class_name", "planthopper"),
            min_score=0.25,
            **kw,
        )
    )
    s.flush()


def test_thresholds_and_trends_over_a_week(sessions):
    """One card per plot and pest that escalates: the trend rule (watch) and the threshold rule (warning) of the
    same pest never make two parallel cards."""
    counts = [1, 2, 2, 4, 4, 9, 3]
    with sessions.begin() as s:
        tenant = make_tenant(s, "wk")
        _rule(s, tenant, threshold=3, level=AlertLevel.warning)
        _rule(s, tenant, kind="trend", threshold=2, level=AlertLevel.watch, params={"rise_pct": 50})
        raised, messages = {}, {}
        for day, n in zip(WEEK, counts):
            got = _captures(s, tenant, day, n)
            raised[day] = [(a.level.value, a.count) for a in got]
            messages[day] = [(a.message_vi, a.message_en) for a in got]
    assert raised[WEEK[0]] == []
    assert raised[WEEK[1]] == [("watch", 2)]  # 1 → 2: +100 %
    assert raised[WEEK[2]] == []  # 2 → 2: flat, under the threshold
    assert raised[WEEK[3]] == [("warning", 4)]  # over 3 and +100 %: the watch card escalates to warning
    assert raised[WEEK[4]] == [("warning", 4)]  # 4 → 4: no trend; the card moves to today
    assert raised[WEEK[5]] == [("warning", 9)]  # +125 %: the same card, with the trend in its message
    assert raised[WEEK[6]] == [("warning", 3)]  # still over 3; a fall is no trend
    vi, en = messages[WEEK[5]][0]
    assert "Tăng 125% so với hôm qua (4)" in vi and "Up 125% on yesterday" in en
    with sessions() as s:
        rows = s.scalars(select(Alert).order_by(Alert.id)).all()
        assert [(a.level.value, a.status.value, a.count) for a in rows] == [("warning", "open", 3)]


def test_a_danger_rule_escalates_the_open_card_and_notifies_again(sessions):
    from cropwatch.core.orm import Delivery, NotificationChannel

    with sessions.begin() as s:
        tenant = make_tenant(s, "esc")
        s.add(NotificationChannel(cooperative_id=tenant.cooperative_id, kind="in_app", config={}))
        _rule(s, tenant, threshold=2, level=AlertLevel.warning)
        _rule(s, tenant, threshold=6, level=AlertLevel.danger)
        today = dt.datetime.now(dt.timezone.utc).date()
        [card] = _captures(s, tenant, today, 3)
        card.status = AlertStatus.acknowledged
        s.flush()
        assert [(a.id, a.level.value) for a in _captures(s, tenant, today, 7)] == [(card.id, "danger")]
        assert card.status == AlertStatus.open, "worse than what the farmer saw: it needs a look again"
        assert _captures(s, tenant, today, 4) == [], "a lower photo never steps the card down"
        levels = sorted(d.level.value for d in s.scalars(select(Delivery).where(Delivery.alert_id == card.id)))
    assert levels == ["danger", "warning"]
    with sessions() as s:
        assert s.scalar(select(Alert).where(Alert.id == card.id)).level == AlertLevel.danger


def test_no_repeated_alert_inside_the_cooldown(sessions):
    with sessions.begin() as s:
        tenant = make_tenant(s, "cd")
        _rule(s, tenant, threshold=2, level=AlertLevel.warning, cooldown_minutes=360)
        today = dt.datetime.now(dt.timezone.utc).date()
        [first] = _captures(s, tenant, today, 3)
        first.status, first.resolved_at = AlertStatus.resolved, utcnow()
        s.flush()
        assert _captures(s, tenant, today, 5) == [], "resolved a moment ago: the cooldown holds"
        first.resolved_at = utcnow() - dt.timedelta(minutes=361)
        s.flush()
        # a garden photo is a sample: the day's figure is the highest photo (3, 5, 1 → 5), never their sum (9)
        assert [a.count for a in _captures(s, tenant, today, 1)] == [5]


def test_a_silent_camera_raises_one_alert_and_clears_it_when_heard_again(sessions):
    with sessions.begin() as s:
        tenant = make_tenant(s, "si")
        _rule(
            s,
            tenant,
            kind="silence",
            class_name=alerts.SILENT,
            threshold=1,
            level=AlertLevel.warning,
            params={"hours": 6},
        )
        cam = s.get(Camera, tenant.camera_id)
        cam.last_seen_at = utcnow() - dt.timedelta(hours=7)
        s.flush()
        [alert] = alerts.check_silent_cameras(s)
        assert alert.class_name == "camera_silent" and "không gửi ảnh" in alert.message_vi
        assert alerts.check_silent_cameras(s) == [], "one open alert, not one per check"
        cam.last_seen_at = utcnow()
        s.flush()
        alerts.check_silent_cameras(s)
        assert alert.status == AlertStatus.resolved and alert.resolution == "camera heard from again"


def _fruit(s, tenant, day, ripe, unripe):
    return _capture_with(s, tenant, day, {"ripe": ripe, "unripe": unripe})


def test_harvest_window_estimates_days_to_ripeness_from_the_trend(sessions):
    assert alerts.harvest_eta_days([(0, 0.2), (1, 0.3), (2, 0.4)], 0.8) == pytest.approx(4.0)
    assert alerts.harvest_eta_days([(0, 0.5), (1, 0.4)], 0.8) is None
    with sessions.begin() as s:
        tenant = make_tenant(s, "hw")
        _rule(
            s,
            tenant,
            kind="harvest_window",
            class_name="harvest_window",
            threshold=1,
            level=AlertLevel.watch,
            params={"share": 0.3, "target": 0.8, "days": 7},
        )
        assert _fruit(s, tenant, WEEK[0], 2, 8) == []  # 20 % ripe: under the level
        [first] = _fruit(s, tenant, WEEK[1], 3, 7)  # 30 %, +10 points since yesterday → 5 days
        assert "30% quả đã chín" in first.message_vi and "khoảng 5 ngày" in first.message_vi
        [again] = _fruit(s, tenant, WEEK[2], 4, 6)  # 40 %, +10 points a day → 80 % in 4 days
        assert again.id == first.id and "khoảng 4 ngày" in again.message_vi and "about 4 days" in again.message_en


def test_a_sticky_trap_week_counts_new_insects_not_photos(sessions):
    """Issue 14: a trap photographed every 10 minutes shows the same stuck insects again and again. A synthetic
    week: insects land through each day, the card is replaced on day 4 at noon; the daily figure is the new catches
    (hand-computed below), alerts fire on those, and the sum over photos (what used to be counted) is far higher."""
    from cropwatch.core.enums import CameraKind

    with sessions.begin() as s:
        tenant = make_tenant(s, "trap")
        s.get(Camera, tenant.camera_id).kind = CameraKind.sticky_trap
        _rule(s, tenant, threshold=20, level=AlertLevel.warning)
        on_card, photos_sum, expected, raised = 0, {}, {}, {}
        for i, day in enumerate(WEEK):
            start, _ = local_day_bounds(day)
            new_today = [5, 8, 12, 30, 6, 25, 0][i]
            start_count = on_card
            for k in range(144):  # one photo every 10 minutes
                when = start + dt.timedelta(minutes=10 * k)
                if i == 3 and k == 72:  # the farmer puts a new card in at noon on day 4
                    on_card = 0
                on_card += 1 if k * new_today // 144 != (k + 1) * new_today // 144 else 0
                cap = Capture(
                    cooperative_id=tenant.cooperative_id,
                    camera_id=tenant.camera_id,
                    plot_id=tenant.plot_id,
                    object_key=f"raw/{uuid.uuid4().hex}.jpg",
                    sha256=uuid.uuid4().hex * 2,
                    size_bytes=1,
                    captured_at=when,
                    status=CaptureStatus.done,
                )
                s.add(cap)
                s.flush()
                s.add_all(
                    [
                        Detection(
                            cooperative_id=tenant.cooperative_id,
                            capture_id=cap.id,
                            class_id=6,
                            class_name="planthopper",
                            score=0.8,
                            x1=1,
                            y1=1,
                            x2=9,
                            y2=9,
                        )
                        for _ in range(on_card)
                    ]
                )
                photos_sum[day] = photos_sum.get(day, 0) + on_card
            s.flush()
            raised[day] = [
                (a.level.value, a.count)
                for a in alerts.evaluate(s, capture=cap, plot=s.get(Plot, tenant.plot_id), class_names={"planthopper"})
            ]
            expected[day] = new_today
            counted = alerts.daily_count(s, plot_id=tenant.plot_id, class_name="planthopper", day=day, min_score=0.25)
            assert counted == new_today, (day, counted, new_today, start_count)
        # the pressure chart and the union's statistics read the same figures
        from api.web.pages_agronomist import _daily_counts
        from cropwatch.union.stats import union_stats

        chart = _daily_counts(s, WEEK, [tenant.plot_id])[tenant.plot_id]["planthopper"]
        union = union_stats(s, [tenant.cooperative_id], 1, now=local_day_bounds(WEEK[-1])[1])
    assert [expected[d] for d in WEEK] == [5, 8, 12, 30, 6, 25, 0]
    assert [chart[d] for d in WEEK] == [5, 8, 12, 30, 6, 25, 0]
    assert [(crop, month, cls, n) for _, crop, month, cls, n in union["pests"]] == [
        ("lúa", "2026-11", "planthopper", 86)
    ]  # the week's new catches, not the photos' sum
    assert photos_sum[WEEK[3]] > 1000, "what summing photos would have said"
    assert raised[WEEK[3]] == [("warning", 30)] and raised[WEEK[5]] == [("warning", 25)]
    assert all(raised[d] == [] for d in (WEEK[0], WEEK[1], WEEK[2], WEEK[4]))


def _same_week_earlier(day: dt.date, years_back: int) -> list[dt.date]:
    year, week, weekday = day.isocalendar()
    monday = dt.date.fromisocalendar(year - years_back, week, 1)
    return [monday + dt.timedelta(days=i) for i in range(weekday)]


def test_a_seasonal_rule_fires_above_the_median_of_the_same_week_in_earlier_seasons(sessions):
    """Week 47 of 2026 (Mon 16 Nov to Thu 19 Nov so far) against week 47 of 2023, 2024 and 2025 on the same plot."""
    today = WEEK[3]
    with sessions.begin() as s:
        tenant = make_tenant(s, "season")
        _rule(s, tenant, kind="seasonal", threshold=2, level=AlertLevel.warning, params={"margin_pct": 20})
        for years_back, per_day in ((1, 4), (2, 6), (3, 30)):  # the median of 4, 6, 30 is 6 (an outbreak year aside)
            for day in _same_week_earlier(today, years_back):
                processed_capture(s, tenant, when=local_day_bounds(day)[0] + dt.timedelta(hours=9),
                                  counts={"planthopper": per_day}, score=0.8, class_id=0)  # fmt: skip
        plot = s.get(Plot, tenant.plot_id)
        assert _capture_with(s, tenant, WEEK[0], {"planthopper": 7}) == [], "7 is not over 6 by 20 %"
        assert _capture_with(s, tenant, WEEK[1], {"planthopper": 7}) == []
        got = _capture_with(s, tenant, WEEK[2], {"planthopper": 10})  # the week's daily mean: (7 + 7 + 10) / 3 = 8
        assert [(a.level, a.count) for a in got] == [(AlertLevel.warning, 8)]
        vi, en = got[0].message_vi, got[0].message_en
        assert "trung bình 8" in vi and "mức thường gặp 6" in vi and "3 mùa trước của lô" in vi, vi
        assert "above the usual 6" in en and "3 earlier seasons of the plot" in en, en
        assert plot.crop == "lúa"


def test_a_plot_without_earlier_seasons_is_compared_with_the_cooperatives_plots_of_its_crop(sessions):
    today = WEEK[1]
    with sessions.begin() as s:
        tenant = make_tenant(s, "season-new")
        _rule(s, tenant, kind="seasonal", threshold=1, level=AlertLevel.watch)
        home = s.get(Plot, tenant.plot_id)
        older = Plot(cooperative_id=tenant.cooperative_id, farm_id=home.farm_id, name="Lô cũ", crop=home.crop)
        other_crop = Plot(cooperative_id=tenant.cooperative_id, farm_id=home.farm_id, name="Lô rau", crop="cải bắp")
        s.add_all([older, other_crop])
        s.flush()
        for day in _same_week_earlier(today, 1):
            at = local_day_bounds(day)[0] + dt.timedelta(hours=9)
            processed_capture(s, tenant, when=at, counts={"planthopper": 2}, score=0.8, class_id=0, plot_id=older.id)
            processed_capture(s, tenant, when=at, counts={"planthopper": 50}, score=0.8, class_id=0,
                              plot_id=other_crop.id)  # fmt: skip
        assert _capture_with(s, tenant, WEEK[0], {"planthopper": 2}) == [], "2 is the usual 2, not above it"
        got = _capture_with(s, tenant, WEEK[1], {"planthopper": 6})  # mean (2 + 6) / 2 = 4 > 2
        assert [(a.level, a.count) for a in got] == [(AlertLevel.watch, 4)]
        assert "mức thường gặp 2" in got[0].message_vi and "cùng cây trồng" in got[0].message_vi
        assert "the cooperative's plots of the crop" in got[0].message_en


def test_a_seasonal_rule_without_any_earlier_season_stays_quiet(sessions):
    with sessions.begin() as s:
        tenant = make_tenant(s, "season-none")
        _rule(s, tenant, kind="seasonal", threshold=1, level=AlertLevel.warning)
        assert _capture_with(s, tenant, WEEK[0], {"planthopper": 40}) == [], "nothing to compare with: no guess"
