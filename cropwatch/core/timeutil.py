"""Local time for farmers: Asia/Ho_Chi_Minh, dates written dd/mm/yyyy (Babel's ``format_date`` with that pattern,
in Vietnamese and in English alike: the cooperatives' documents use it in both)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def local_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(LOCAL_TZ).date()


def local_day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """UTC start (inclusive) and end (exclusive) of a local calendar day."""
    start = dt.datetime.combine(day, dt.time(0, 0), LOCAL_TZ)
    return start.astimezone(dt.timezone.utc), (start + dt.timedelta(days=1)).astimezone(dt.timezone.utc)


def fmt_date(value: dt.date | dt.datetime, locale: str = "vi") -> str:
    if isinstance(value, dt.datetime):
        value = value.astimezone(LOCAL_TZ).date()
    return format_date(value, "dd/MM/yyyy", locale=locale)


def fmt_datetime(value: dt.datetime, locale: str = "vi") -> str:
    return format_datetime(value.astimezone(LOCAL_TZ), "dd/MM/yyyy HH:mm", locale=locale)
