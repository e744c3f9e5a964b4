"""Production forecast (dự báo sản lượng): expected output per crop and week for a cooperative or a union.

Per plot: area × the crop profile's yield per hectare (the cooperative's own profile for the crop and variety, else
its profile for the crop, else :data:`DEFAULT_PROFILES`), **corrected by evidence**:

- *the cooperative's own past seasons*: the median of recorded harvest ÷ expected harvest over its finished seasons
  of the crop (``plot_seasons`` and the lots harvested in them) scales the profile's yield; the spread of those
  ratios gives the band (±20% until three seasons are recorded);
- *harvests already recorded* this season (lots since planting) are taken off what is still to come;
- *the ripeness camera*: where a fruit camera watches the plot and the ripe share has reached 30% (the harvest
  window rule's default level: before that a straight line through the last days of a slow start runs off by
  months), the picking is centred on the day the ripe share reaches 80% by the trend of its last 7 days
  (:func:`cropwatch.alerts.rules.harvest_eta_days`), not on the date the member typed.

Timing: the picking starts on the plot's expected harvest date (the first pick, as members write it; or the planting
date + the profile's days) and the output is spread evenly over the profile's harvest days. A plot without area or dates is listed with what is missing, never guessed.
:func:`backtest` replays the finished seasons in order and prints the forecast's error (MAPE) next to the naive
baseline (area × profile yield, no evidence); :func:`timing_backtest` does the same for the timing of fruit crops
watched by a fruit camera (days off the first pick, against the typed date).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cropwatch.alerts.rules import harvest_eta_days, ripe_share
from cropwatch.core.enums import CameraKind
from cropwatch.core.orm import Camera, CropProfile, HarvestLot, Plot, PlotSeason
from cropwatch.core.timeutil import LOCAL_TZ, utcnow


@dataclass(frozen=True)
class Profile:
    yield_kg_per_ha: float
    days_to_harvest: int
    harvest_days: int
    source: str  # cooperative | default


#: sensible starting figures for the demo's crops (Mekong delta): kg per hectare per season, days from planting to
#: the harvest's start, days a plot's harvest lasts. A cooperative edits its own (``crop_profiles``).
DEFAULT_PROFILES: dict[str, Profile] = {
    "lúa": Profile(6000, 100, 7, "default"),  # rice, one season (GSO: 5.9-6.1 t/ha in the delta)
    "cà chua": Profile(40000, 70, 42, "default"),  # field tomato, picked over six weeks
    "cải bắp": Profile(30000, 80, 10, "default"),  # cabbage
}
#: crops whose fruit the ripeness model reads (their harvest timing can come from a fruit camera)
FRUIT_CROPS = ("cà chua",)
#: the band until a cooperative has three finished seasons of a crop
DEFAULT_BAND = 0.2
RIPE_TARGET = 0.8
#: the ripe share from which the camera's trend times the picking (the harvest window rule's default level)
RIPE_TRUSTED = 0.3


def profile_for(session: Session, cooperative_id: int, crop: str, variety: str | None) -> Profile | None:
    rows = session.scalars(
        select(CropProfile).where(CropProfile.cooperative_id == cooperative_id, CropProfile.crop == crop)
    ).all()
    mine = next((r for r in rows if variety and r.variety == variety), None) or next(
        (r for r in rows if not r.variety), None
    )
    if mine is not None:
        return Profile(mine.yield_kg_per_ha, mine.days_to_harvest, mine.harvest_days, "cooperative")
    return DEFAULT_PROFILES.get(crop)


def _harvested(session: Session, plot_id: int, start: dt.date, end: dt.date | None = None) -> float:
    q = select(func.coalesce(func.sum(HarvestLot.quantity), 0.0)).where(
        HarvestLot.plot_id == plot_id, HarvestLot.harvested_on >= start, HarvestLot.unit == "kg"
    )
    if end is not None:
        q = q.where(HarvestLot.harvested_on <= end)
    return float(session.scalar(q) or 0.0)


@dataclass(frozen=True)
class Calibration:
    factor: float  # recorded ÷ expected, median over the seasons
    low: float  # the band, as factors of the expected output
    high: float
    seasons: int


def calibration(session: Session, cooperative_id: int, crop: str, *, before: dt.date) -> Calibration:
    """The cooperative's recorded ÷ expected harvest over its finished seasons of ``crop`` that ended before
    ``before`` (1.0 and ±20% without any)."""
    ratios = []
    for season in session.scalars(
        select(PlotSeason)
        .where(PlotSeason.cooperative_id == cooperative_id, PlotSeason.crop == crop, PlotSeason.ended_on < before)
        .order_by(PlotSeason.ended_on)
    ):
        prof = profile_for(session, cooperative_id, season.crop, season.variety)
        if prof is None or not season.area_m2:
            continue
        expected = season.area_m2 / 10_000 * prof.yield_kg_per_ha
        got = _harvested(session, season.plot_id, season.planting_date, season.ended_on)
        if expected > 0 and got > 0:
            ratios.append(got / expected)
    if not ratios:
        return Calibration(1.0, 1 - DEFAULT_BAND, 1 + DEFAULT_BAND, 0)
    factor = statistics.median(ratios)
    if len(ratios) < 3:
        return Calibration(factor, factor * (1 - DEFAULT_BAND), factor * (1 + DEFAULT_BAND), len(ratios))
    return Calibration(factor, min(ratios), max(ratios), len(ratios))


def _ripeness_centre(session: Session, plot: Plot, today: dt.date) -> dt.date | None:
    """The day a fruit camera's trend puts the plot's ripe share at 80%, when one watched it this week."""
    has_fruit_camera = session.scalar(
        select(func.count(Camera.id)).where(Camera.plot_id == plot.id, Camera.kind == CameraKind.fruit)
    )
    if not has_fruit_camera:
        return None
    series = []
    for back in range(6, -1, -1):
        got = ripe_share(session, plot_id=plot.id, day=today - dt.timedelta(days=back), min_score=0.25)
        if got is not None:
            series.append((6 - back, got[0]))
    if not series or series[-1][1] < RIPE_TRUSTED:
        return None
    eta = harvest_eta_days(series, RIPE_TARGET)
    return None if eta is None else today + dt.timedelta(days=round(eta))


@dataclass
class PlotForecast:
    plot_id: int
    cooperative_id: int
    crop: str
    total_kg: float  # the season's expected output
    harvested_kg: float  # recorded so far this season
    by_day: dict[dt.date, tuple[float, float, float]]  # still to come: day -> (expected, low, high) kg
    centre: dt.date  # the middle of the picking
    how: list[str] = field(default_factory=list)  # i18n keys: how the figure was made


@dataclass
class Missing:
    plot_id: int
    cooperative_id: int
    plot_name: str
    what: str  # forecast_missing_area | forecast_missing_dates | forecast_missing_profile


def plot_forecast(session: Session, plot: Plot, today: dt.date) -> PlotForecast | Missing:
    if not plot.area_m2:
        return Missing(plot.id, plot.cooperative_id, plot.name, "forecast_missing_area")
    prof = profile_for(session, plot.cooperative_id, plot.crop, plot.variety)
    if prof is None:
        return Missing(plot.id, plot.cooperative_id, plot.name, "forecast_missing_profile")
    if plot.expected_harvest is None and plot.planting_date is None:
        return Missing(plot.id, plot.cooperative_id, plot.name, "forecast_missing_dates")
    how = ["forecast_how_profile" if prof.source == "default" else "forecast_how_own_profile"]
    cal = calibration(session, plot.cooperative_id, plot.crop, before=plot.planting_date or today)
    if cal.seasons:
        how.append("forecast_how_calibrated")
    first = plot.expected_harvest or plot.planting_date + dt.timedelta(days=prof.days_to_harvest)
    centre = first + dt.timedelta(days=prof.harvest_days // 2)
    ripe = _ripeness_centre(session, plot, today) if plot.crop in FRUIT_CROPS else None
    if ripe is not None:
        centre, first = ripe, ripe - dt.timedelta(days=prof.harvest_days // 2)
        how.append("forecast_how_ripeness")
    total = plot.area_m2 / 10_000 * prof.yield_kg_per_ha
    season_start = plot.planting_date or first - dt.timedelta(days=prof.days_to_harvest)
    harvested = _harvested(session, plot.id, season_start)
    if harvested:
        how.append("forecast_how_harvested")
    remaining = max(0.0, total * cal.factor - harvested)
    days = [first + dt.timedelta(days=i) for i in range(prof.harvest_days)]
    days = [d for d in days if d >= today] or [today]  # overdue: what is left is expected now
    share = 1 / len(days)
    low_f, high_f = cal.low / cal.factor, cal.high / cal.factor
    by_day = {d: (remaining * share, remaining * share * low_f, remaining * share * high_f) for d in days}
    return PlotForecast(plot.id, plot.cooperative_id, plot.crop, total * cal.factor, harvested, by_day, centre, how)


def _monday(d: dt.date) -> dt.date:
    return d - dt.timedelta(days=d.weekday())


def weekly(session: Session, coop_ids: list[int], *, weeks: int = 12, today: dt.date | None = None) -> dict:
    """Expected output per crop and week (Monday) from this week on, with the band and the harvests recorded in
    each week; the plots it could not forecast and why."""
    today = today or utcnow().astimezone(LOCAL_TZ).date()
    start = _monday(today)
    horizon = start + dt.timedelta(weeks=weeks)
    rows: dict[tuple[str, dt.date], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    missing: list[Missing] = []
    plots: list[PlotForecast] = []
    for plot in session.scalars(select(Plot).where(Plot.cooperative_id.in_(coop_ids)).order_by(Plot.id)):
        got = plot_forecast(session, plot, today)
        if isinstance(got, Missing):
            missing.append(got)
            continue
        plots.append(got)
        for day, (exp, low, high) in got.by_day.items():
            if day < horizon:
                cell = rows[(got.crop, _monday(day))]
                cell[0], cell[1], cell[2] = cell[0] + exp, cell[1] + low, cell[2] + high
    recorded = session.execute(
        select(Plot.crop, HarvestLot.harvested_on, HarvestLot.quantity)
        .join(Plot, Plot.id == HarvestLot.plot_id)
        .where(HarvestLot.cooperative_id.in_(coop_ids), HarvestLot.unit == "kg")
        .where(HarvestLot.harvested_on >= start, HarvestLot.harvested_on < horizon)
    )
    for crop, on, qty in recorded:
        rows[(crop, _monday(on))][3] += qty
    table = [
        {
            "crop": crop,
            "week": week,
            "expected_kg": round(v[0], 1),
            "low_kg": round(v[1], 1),
            "high_kg": round(v[2], 1),
            "recorded_kg": round(v[3], 1),
        }
        for (crop, week), v in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1]))
    ]
    return {"from": start, "weeks": weeks, "rows": table, "plots": plots, "missing": missing}


def backtest(session: Session, coop_ids: list[int]) -> dict[str, dict]:
    """Each finished season, in order, forecast with only what was known before it (the profile and the earlier
    seasons' calibration) against its recorded harvest: MAPE of the forecast and of the naive baseline (area ×
    profile yield) per crop, over the seasons with a recorded harvest."""
    errors: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"forecast": [], "naive": []})
    for season in session.scalars(
        select(PlotSeason).where(PlotSeason.cooperative_id.in_(coop_ids)).order_by(PlotSeason.ended_on)
    ):
        prof = profile_for(session, season.cooperative_id, season.crop, season.variety)
        actual = _harvested(session, season.plot_id, season.planting_date, season.ended_on)
        if prof is None or not season.area_m2 or actual <= 0:
            continue
        naive = season.area_m2 / 10_000 * prof.yield_kg_per_ha
        cal = calibration(session, season.cooperative_id, season.crop, before=season.planting_date)
        errors[season.crop]["forecast"].append(abs(naive * cal.factor - actual) / actual)
        errors[season.crop]["naive"].append(abs(naive - actual) / actual)
    return {
        crop: {
            "seasons": len(e["forecast"]),
            "mape_forecast": round(100 * statistics.fmean(e["forecast"]), 1),
            "mape_naive": round(100 * statistics.fmean(e["naive"]), 1),
        }
        for crop, e in sorted(errors.items())
    }


def timing_backtest(
    session: Session, coop_ids: list[int], *, leads: tuple[int, ...] = (0, 7, 14, 21)
) -> dict[int, dict]:
    """For each finished season of a fruit crop on a plot a fruit camera watches: the middle of the picking as the
    forecast put it ``lead`` days after the season's first recorded pick, with what the camera had seen by then,
    against the recorded one (first pick + half the profile's harvest days, the forecast's own picture of a season);
    next to the naive timing (the expected harvest date as typed, + half the harvest days). {lead: {"seasons",
    "mae_days_forecast", "mae_days_naive", "from_camera"}}; from_camera counts the seasons the camera's trend timed
    (the others fell back to the typed date, as the forecast does below a 30% ripe share)."""
    watched = set(session.scalars(select(Camera.plot_id).where(Camera.kind == CameraKind.fruit)))
    seasons = [
        season
        for season in session.scalars(
            select(PlotSeason)
            .where(PlotSeason.cooperative_id.in_(coop_ids), PlotSeason.crop.in_(FRUIT_CROPS))
            .order_by(PlotSeason.ended_on)
        )
        if season.plot_id in watched and season.expected_harvest is not None
    ]
    out: dict[int, dict] = {}
    for lead in leads:
        fc, naive, camera = [], [], 0
        for season in seasons:
            prof = profile_for(session, season.cooperative_id, season.crop, season.variety)
            first_pick = session.scalar(
                select(func.min(HarvestLot.harvested_on)).where(
                    HarvestLot.plot_id == season.plot_id,
                    HarvestLot.harvested_on >= season.planting_date,
                    HarvestLot.harvested_on <= season.ended_on,
                )
            )
            if prof is None or first_pick is None:
                continue
            half = dt.timedelta(days=prof.harvest_days // 2)
            recorded, typed = first_pick + half, season.expected_harvest + half
            ripe = _ripeness_centre(session, session.get(Plot, season.plot_id), first_pick + dt.timedelta(days=lead))
            camera += ripe is not None
            fc.append(abs(((ripe or typed) - recorded).days))
            naive.append(abs((typed - recorded).days))
        if fc:
            out[lead] = {
                "seasons": len(fc),
                "mae_days_forecast": round(statistics.fmean(fc), 1),
                "mae_days_naive": round(statistics.fmean(naive), 1),
                "from_camera": camera,
            }
    return out
