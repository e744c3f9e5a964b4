"""Issue 14: a farmer marks a sticky trap's card replaced in one tap ("thay bẫy"), and the trap's count starts
again from zero at that moment, even when the new card's first count is no visible drop."""

from __future__ import annotations

import datetime as dt
import uuid

from factories import make_tenant, processed_capture

from cropwatch.alerts import rules as alerts
from cropwatch.alerts.counts import daily_figures
from cropwatch.core.enums import CameraKind
from cropwatch.core.orm import Camera, TrapChange
from cropwatch.core.timeutil import local_day_bounds

DAY = dt.date(2026, 11, 18)


def _photo(s, tenant, when: dt.datetime, n: int) -> None:
    processed_capture(s, tenant, when=when, counts={"planthopper": n})


def test_a_marked_card_change_counts_both_cards(sessions):
    """Old card: 2 then 4 insects; the farmer changes it at noon; the new card shows 3, then 5. No drop of half
    is visible (4 → 3), so only the mark tells: the day's new catches are 4 + 5 = 9, not 5."""
    with sessions.begin() as s:
        tenant = make_tenant(s, "tc")
        s.get(Camera, tenant.camera_id).kind = CameraKind.sticky_trap
        start, _ = local_day_bounds(DAY)
        for hour, n in ((8, 2), (11, 4), (14, 3), (17, 5)):
            _photo(s, tenant, start + dt.timedelta(hours=hour), n)
        unmarked = alerts.daily_count(s, plot_id=tenant.plot_id, class_name="planthopper", day=DAY, min_score=0.25)
        s.add(
            TrapChange(
                cooperative_id=tenant.cooperative_id,
                camera_id=tenant.camera_id,
                changed_at=start + dt.timedelta(hours=12),
            )
        )
        s.flush()
        marked = alerts.daily_count(s, plot_id=tenant.plot_id, class_name="planthopper", day=DAY, min_score=0.25)
        fig = daily_figures(s, plot_ids=[tenant.plot_id], days=[DAY], min_score=0.25)[(tenant.plot_id, "planthopper")]
    assert (unmarked, marked) == (5, 9)
    assert fig[DAY].unit == "trap_day" and fig[DAY].cameras == 1


def test_two_traps_give_the_mean_per_trap_and_a_garden_camera_its_best_photo(sessions):
    with sessions.begin() as s:
        tenant = make_tenant(s, "two")
        trap1 = s.get(Camera, tenant.camera_id)
        trap1.kind = CameraKind.sticky_trap
        trap2 = Camera(
            cooperative_id=tenant.cooperative_id,
            plot_id=tenant.plot_id,
            name="trap 2",
            kind=CameraKind.sticky_trap,
            token_hash=uuid.uuid4().hex,
        )
        garden = Camera(
            cooperative_id=tenant.cooperative_id,
            plot_id=tenant.plot_id,
            name="garden",
            kind=CameraKind.garden,
            token_hash=uuid.uuid4().hex,
        )
        s.add_all([trap2, garden])
        s.flush()
        start, _ = local_day_bounds(DAY)
        for cam, series in ((trap1.id, [1, 4, 6]), (trap2.id, [0, 1, 3]), (garden.id, [2, 7, 1])):
            tenant.camera_id = cam
            for i, n in enumerate(series):
                _photo(s, tenant, start + dt.timedelta(hours=8 + i), n)
        figs = {
            u: daily_figures(s, plot_ids=[tenant.plot_id], days=[DAY], min_score=0.25, unit=u)[
                (tenant.plot_id, "planthopper")
            ][DAY]
            for u in (None, "trap_day", "sample")
        }
    assert (figs["trap_day"].value, figs["trap_day"].cameras) == (4.5, 2)  # (6 + 3) / 2 new per trap
    assert (figs["sample"].value, figs["sample"].cameras) == (7, 1)  # the garden camera's best photo
    assert figs[None] == figs["trap_day"]  # a plot with traps is read by its traps


def test_the_workers_day_read_gives_the_same_figures_as_the_charts(sessions):
    """The worker reads a plot's day once per batch (DayFigures: one aggregate query for garden cameras, however
    many photos the day has); it must give the numbers the pressure chart and the union's statistics give
    (daily_figures, which walks the photos): two garden cameras over two days, a low score and a rejected box among
    them, then a trap on the same plot, read by every unit."""
    from cropwatch.alerts.counts import DayFigures
    from cropwatch.core.enums import ReviewState
    from cropwatch.core.orm import Detection

    with sessions.begin() as s:
        tenant = make_tenant(s, "same")
        first = tenant.camera_id
        second = Camera(cooperative_id=tenant.cooperative_id, plot_id=tenant.plot_id, name="garden 2",
                        kind=CameraKind.garden, token_hash=uuid.uuid4().hex)  # fmt: skip
        s.add(second)
        s.flush()
        start, _ = local_day_bounds(DAY)
        photos = {  # camera: [(hours from the day's start, planthopper, rice bug)]
            first: [(-20, 9, 0), (7, 2, 1), (9, 5, 0), (15, 1, 3)],
            second.id: [(-3, 6, 6), (8, 4, 0), (12, 0, 0)],
        }
        for cam, series in photos.items():
            tenant.camera_id = cam
            for hours, ph, rb in series:
                processed_capture(s, tenant, when=start + dt.timedelta(hours=hours),
                                  counts={"planthopper": ph, "rice bug": rb})  # fmt: skip
        weak = processed_capture(s, tenant, when=start + dt.timedelta(hours=10), counts={"rice bug": 8}, score=0.1)
        rejected = processed_capture(s, tenant, when=start + dt.timedelta(hours=11), counts={"planthopper": 7})
        for d in s.query(Detection).filter_by(capture_id=rejected.id):
            d.review_state = ReviewState.rejected
        s.flush()

        def both(unit):
            charts = daily_figures(s, plot_ids=[tenant.plot_id], days=[DAY], min_score=0.25, unit=unit)
            worker = DayFigures(s, plot_id=tenant.plot_id, day=DAY)
            return {
                name: (charts.get((tenant.plot_id, name), {}).get(DAY), worker.get(name, min_score=0.25, unit=unit))
                for name in ("planthopper", "rice bug")
            }

        def same(chart, worker) -> bool:  # a pest not seen that day: the charts may say 0, the worker None
            return chart == worker or (worker is None and (chart is None or chart.value == 0))

        gardens = both(None)
        assert gardens["planthopper"][0].value == (5 + 4) / 2 and gardens["rice bug"][0].value == (3 + 0) / 2
        assert all(chart == worker for chart, worker in gardens.values()), gardens
        assert all(same(chart, worker) for chart, worker in both("sample").values())
        tenant.camera_id = first
        s.get(Camera, first).kind = CameraKind.sticky_trap  # the plot now has a trap: read by its new catches
        s.flush()
        for unit in (None, "trap_day", "sample"):
            read = both(unit)
            assert all(same(chart, worker) for chart, worker in read.values()), (unit, read)
        assert both("trap_day")["planthopper"][1].unit == "trap_day"
    assert weak.id and rejected.id
