"""When to grab a frame: a fixed interval (aligned to the wall clock), optionally only in daylight (sunrise/sunset from
the field's coordinates, computed offline), and bursts on demand (a file ``burst`` in the data dir, or SIGUSR1).

The sun is computed with the sunrise equation (NOAA's simplified solar position: mean anomaly, equation of the
centre, ecliptic longitude, declination, -0.833° for refraction and the solar disc), good to about a minute between
the polar circles; above them, polar day and polar night are handled (always / never daylight).
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from dataclasses import dataclass
from pathlib import Path

UTC = dt.timezone.utc
J2000 = 2451545.0
_UNIX_EPOCH_JD = 2440587.5


def _jd(t: dt.datetime) -> float:
    return t.timestamp() / 86400.0 + _UNIX_EPOCH_JD


def _from_jd(jd: float) -> dt.datetime:
    return dt.datetime.fromtimestamp((jd - _UNIX_EPOCH_JD) * 86400.0, UTC)


@dataclass(frozen=True)
class SunDay:
    """Sunrise and sunset of one solar day (UTC), or ``polar`` = "day" / "night" when the sun does not cross."""

    sunrise: dt.datetime | None
    sunset: dt.datetime | None
    noon: dt.datetime
    polar: str | None = None


def sun_times(date: dt.date, latitude: float, longitude: float) -> SunDay:
    """Sunrise, solar noon and sunset of ``date`` at the place (longitude east positive), as UTC datetimes."""
    noon_utc = dt.datetime(date.year, date.month, date.day, 12, tzinfo=UTC)
    n = round(_jd(noon_utc) - J2000 + 0.0008)
    j_star = n - longitude / 360.0
    m = math.radians((357.5291 + 0.98560028 * j_star) % 360.0)
    c = 1.9148 * math.sin(m) + 0.0200 * math.sin(2 * m) + 0.0003 * math.sin(3 * m)
    lam = math.radians((math.degrees(m) + c + 180.0 + 102.9372) % 360.0)
    transit = J2000 + j_star + 0.0053 * math.sin(m) - 0.0069 * math.sin(2 * lam)
    sin_d = math.sin(lam) * math.sin(math.radians(23.4397))
    cos_d = math.cos(math.asin(sin_d))
    phi = math.radians(latitude)
    cos_w = (math.sin(math.radians(-0.833)) - math.sin(phi) * sin_d) / (math.cos(phi) * cos_d or 1e-12)
    noon = _from_jd(transit)
    if cos_w < -1:
        return SunDay(None, None, noon, "day")
    if cos_w > 1:
        return SunDay(None, None, noon, "night")
    w = math.degrees(math.acos(cos_w)) / 360.0
    return SunDay(_from_jd(transit - w), _from_jd(transit + w), noon)


def _solar_date(t: dt.datetime, longitude: float) -> dt.date:
    return (t.astimezone(UTC) + dt.timedelta(hours=longitude / 15.0)).date()


def daylight_window(
    t: dt.datetime, latitude: float, longitude: float, margin: dt.timedelta = dt.timedelta(0)
) -> tuple[dt.datetime, dt.datetime] | None:
    """(start, end) of the daylight window of the solar day ``t`` falls in; None in polar night, the whole day in
    polar day."""
    day = sun_times(_solar_date(t, longitude), latitude, longitude)
    if day.polar == "night":
        return None
    if day.polar == "day":
        return day.noon - dt.timedelta(hours=12), day.noon + dt.timedelta(hours=12)
    return day.sunrise - margin, day.sunset + margin


def is_daylight(t: dt.datetime, latitude: float, longitude: float, margin: dt.timedelta = dt.timedelta(0)) -> bool:
    w = daylight_window(t, latitude, longitude, margin)
    return w is not None and w[0] <= t <= w[1]


def next_daylight_start(
    t: dt.datetime, latitude: float, longitude: float, margin: dt.timedelta = dt.timedelta(0)
) -> dt.datetime | None:
    """The first instant at or after ``t`` in a daylight window (None if none within a year: polar night)."""
    for days in range(0, 370):
        probe = t + dt.timedelta(days=days)
        w = daylight_window(probe, latitude, longitude, margin)
        if w is None:
            continue
        start, end = w
        if t <= end:
            return max(start, t)
    return None


@dataclass
class Schedule:
    interval_s: float
    daylight_only: bool = False
    latitude: float = 0.0
    longitude: float = 0.0
    margin_min: float = 0.0

    @property
    def margin(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.margin_min)

    def allowed(self, t: dt.datetime) -> bool:
        return not self.daylight_only or is_daylight(t, self.latitude, self.longitude, self.margin)

    def next_after(self, t: dt.datetime) -> dt.datetime:
        """The next capture time strictly after ``t``: the next multiple of the interval since the epoch (so cameras
        shoot at :00, :10, ... for a 600 s interval), moved to the start of daylight when it falls at night."""
        ts = t.timestamp()
        nxt = dt.datetime.fromtimestamp((math.floor(ts / self.interval_s) + 1) * self.interval_s, UTC)
        if self.allowed(nxt):
            return nxt
        start = next_daylight_start(nxt, self.latitude, self.longitude, self.margin)
        return start if start is not None else nxt + dt.timedelta(days=1)


class BurstTrigger:
    """A burst on demand: SIGUSR1 (``request``) or a file named ``burst`` in the data dir (its content: the number
    of frames, default from the config). ``take`` returns how many frames to shoot now (0: none) and clears it."""

    def __init__(self, data_dir: Path, default_count: int) -> None:
        self.file = Path(data_dir) / "burst"
        self.default_count = default_count
        self._pending = 0
        self._lock = threading.Lock()
        self.wake = threading.Event()

    def request(self, count: int | None = None) -> None:
        with self._lock:
            self._pending = max(self._pending, count or self.default_count)
        self.wake.set()

    def take(self) -> int:
        if self.file.exists():
            try:
                text = self.file.read_text().strip()
                count = int(text) if text else self.default_count
            except (OSError, ValueError):
                count = self.default_count
            try:
                self.file.unlink()
            except OSError:
                pass
            self.request(count)
        with self._lock:
            n, self._pending = self._pending, 0
        return max(0, n)
