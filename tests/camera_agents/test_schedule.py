"""The capture schedule: sunrise/sunset computed offline (against published times), the daylight window, interval
alignment, and bursts on demand (file or SIGUSR1)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import time

import pytest

from camera_agents.schedule import BurstTrigger, Schedule, is_daylight, sun_times

UTC = dt.timezone.utc


def _close(a: dt.datetime, b: dt.datetime, minutes: float = 3) -> bool:
    return abs((a - b).total_seconds()) <= minutes * 60


@pytest.mark.parametrize(
    "place,date,lat,lon,rise,set_",
    [
        # published sunrise/sunset (timeanddate.com / NOAA), in UTC
        ("London", dt.date(2024, 6, 21), 51.5074, -0.1278, (3, 43), (20, 21)),
        ("Hà Nội", dt.date(2024, 12, 21), 21.03, 105.85, (23, 30), (10, 18)),  # 06:30 / 17:18 ICT
        ("Sydney", dt.date(2024, 12, 21), -33.87, 151.21, (18, 41), (9, 5)),  # 05:41 / 20:05 AEDT
    ],
)
def test_sunrise_and_sunset_match_published_times(place, date, lat, lon, rise, set_):
    day = sun_times(date, lat, lon)
    assert day.polar is None
    rise_dt = dt.datetime.combine(date, dt.time(*rise), UTC)
    set_dt = dt.datetime.combine(date, dt.time(*set_), UTC)
    # east of Greenwich the local morning is the previous UTC day
    if rise_dt > day.noon:
        rise_dt -= dt.timedelta(days=1)
    if set_dt < day.noon:
        set_dt += dt.timedelta(days=1)
    assert _close(day.sunrise, rise_dt), (place, day.sunrise, rise_dt)
    assert _close(day.sunset, set_dt), (place, day.sunset, set_dt)


def test_polar_day_and_night():
    assert sun_times(dt.date(2024, 6, 21), 78.2, 15.6).polar == "day"
    assert sun_times(dt.date(2024, 12, 21), 78.2, 15.6).polar == "night"
    assert is_daylight(dt.datetime(2024, 6, 21, 23, 0, tzinfo=UTC), 78.2, 15.6)
    assert not is_daylight(dt.datetime(2024, 12, 21, 11, 0, tzinfo=UTC), 78.2, 15.6)


def test_interval_is_aligned_to_the_wall_clock():
    s = Schedule(600)
    assert s.next_after(dt.datetime(2026, 3, 1, 8, 3, 20, tzinfo=UTC)) == dt.datetime(2026, 3, 1, 8, 10, tzinfo=UTC)
    assert s.next_after(dt.datetime(2026, 3, 1, 8, 10, tzinfo=UTC)) == dt.datetime(2026, 3, 1, 8, 20, tzinfo=UTC)


def test_daylight_only_skips_the_night_to_the_next_sunrise():
    hcmc = Schedule(600, daylight_only=True, latitude=10.82, longitude=106.63)
    evening = dt.datetime(2024, 1, 1, 12, 0, tzinfo=UTC)  # 19:00 ICT
    nxt = hcmc.next_after(evening)
    assert _close(nxt, sun_times(dt.date(2024, 1, 2), 10.82, 106.63).sunrise, 0.1)
    noon = dt.datetime(2024, 1, 1, 5, 0, tzinfo=UTC)
    assert hcmc.next_after(noon) == dt.datetime(2024, 1, 1, 5, 10, tzinfo=UTC)
    with_margin = Schedule(600, daylight_only=True, latitude=10.82, longitude=106.63, margin_min=30)
    assert with_margin.next_after(evening) < nxt - dt.timedelta(minutes=29)


def test_burst_from_a_file_or_sigusr1(tmp_path):
    b = BurstTrigger(tmp_path, default_count=5)
    assert b.take() == 0
    (tmp_path / "burst").write_text("3")
    assert b.take() == 3 and not (tmp_path / "burst").exists()
    (tmp_path / "burst").write_text("")
    assert b.take() == 5
    old = signal.signal(signal.SIGUSR1, lambda *_: b.request())
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.05)
        assert b.wake.is_set() and b.take() == 5 and b.take() == 0
    finally:
        signal.signal(signal.SIGUSR1, old)
