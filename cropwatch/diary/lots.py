"""Harvest lots, the pre-harvest interval guard and the public traceability view.

- **Pre-harvest interval (PHI)**: a `pest_control` diary entry with ``phi_days`` blocks harvesting its plot until
  ``occurred_at`` (local day) + ``phi_days``. Recording a harvest or creating a lot inside that window is refused
  with the product and the day the interval ends; an agronomist (or cooperative admin) may override with a written
  reason, which is kept on the lot and in the diary entry.
- **Lots** get a public code from ``secrets.token_urlsafe`` (128 bits): unguessable, printed as a QR code.
- **Public view**: what a buyer scanning the label sees — cooperative, province, growing-area code, crop, the lot and
  the plot's diary for the season (inputs with dates and intervals, observations, harvest) with photos. Never people
  (operators, authors, phone numbers), free-text notes, other plots or detections.
"""

from __future__ import annotations

import datetime as dt
import io
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cropwatch.core.enums import DiarySource, DiaryStatus, DiaryType
from cropwatch.core.i18n import t
from cropwatch.core.orm import Cooperative, DiaryEntry, HarvestLot, Plot, PlotSeason
from cropwatch.core.timeutil import fmt_date, local_day, local_day_bounds
from cropwatch.diary import certifications
from cropwatch.diary import entries as diary
from cropwatch.diary.chain import public_chain

SEASON_DAYS = 180  # the diary shown for a lot: since the plot's planting date, or this many days before harvest


@dataclass(frozen=True)
class Blocking:
    entry_id: int
    product: str
    sprayed_on: dt.date
    phi_days: int
    ends_on: dt.date  # first day a harvest is allowed


class PhiActive(Exception):
    def __init__(self, blocking: list[Blocking]) -> None:
        super().__init__("pre-harvest interval still running")
        self.blocking = blocking

    @property
    def first(self) -> Blocking:
        return max(self.blocking, key=lambda b: b.ends_on)


def blocking_sprays(session: Session, *, plot_id: int, day: dt.date) -> list[Blocking]:
    """Pest-control entries of the plot whose pre-harvest interval is still running on ``day``."""
    start, _ = local_day_bounds(day - dt.timedelta(days=365))
    _, end = local_day_bounds(day)
    out = []
    for e in session.scalars(
        select(DiaryEntry).where(
            DiaryEntry.plot_id == plot_id,
            DiaryEntry.type == DiaryType.pest_control,
            DiaryEntry.deleted_at.is_(None),
            DiaryEntry.phi_days.is_not(None),
            DiaryEntry.occurred_at >= start,
            DiaryEntry.occurred_at < end,
        )
    ):
        sprayed = local_day(e.occurred_at)
        ends = sprayed + dt.timedelta(days=int(e.phi_days))
        if day < ends:
            out.append(Blocking(e.id, e.product_name or e.title, sprayed, int(e.phi_days), ends))
    return sorted(out, key=lambda b: b.ends_on)


def check_phi(
    session: Session,
    *,
    plot_id: int,
    day: dt.date,
    override_reason: str | None,
    may_override: bool,
    user_id: int | None,
) -> dict | None:
    """Raise PhiActive when an interval runs on ``day`` and no valid override is given; return the override record
    to keep (or None when nothing was blocking)."""
    blocking = blocking_sprays(session, plot_id=plot_id, day=day)
    if not blocking:
        return None
    if not (override_reason and may_override):
        raise PhiActive(blocking)
    return {
        "by": user_id,
        "reason": override_reason,
        "at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "products": [
            {"product": b.product, "sprayed_on": b.sprayed_on.isoformat(), "ends_on": b.ends_on.isoformat()}
            for b in blocking
        ],
    }


def create_lot(
    session: Session,
    *,
    plot: Plot,
    harvested_on: dt.date,
    quantity: float,
    unit: str,
    ripeness_grade: str | None,
    user_id: int | None,
    override_reason: str | None = None,
    may_override: bool = False,
) -> HarvestLot:
    """A lot and its `harvest` diary entry, after the PHI guard."""
    override = check_phi(
        session,
        plot_id=plot.id,
        day=harvested_on,
        override_reason=override_reason,
        may_override=may_override,
        user_id=user_id,
    )
    start, _ = local_day_bounds(harvested_on)
    entry = diary.create_entry(
        session,
        cooperative_id=plot.cooperative_id,
        user_id=user_id,
        plot_id=plot.id,
        occurred_at=start + dt.timedelta(hours=12),
        type=DiaryType.harvest,
        status=DiaryStatus.done,
        source=DiarySource.manual,
        title=t("lot_harvest_title", "vi", qty=f"{quantity:g}", unit=unit),
        notes=(f"PHI override: {override_reason}" if override else ""),
        quantity_value=quantity,
        quantity_unit=unit,
    )
    lot = HarvestLot(
        cooperative_id=plot.cooperative_id,
        plot_id=plot.id,
        public_code=secrets.token_urlsafe(16),
        harvested_on=harvested_on,
        quantity=quantity,
        unit=unit,
        ripeness_grade=ripeness_grade,
        diary_entry_id=entry.id,
        phi_override=override,
        created_by=user_id,
    )
    session.add(lot)
    session.flush()
    return lot


@dataclass(frozen=True)
class Season:
    planted: dt.date
    crop: str
    variety: str | None


def season_of(session: Session, plot: Plot, harvested_on: dt.date) -> Season:
    """The season ``harvested_on`` belongs to: the latest finished season (``plot_seasons``) planted on or before it,
    or the plot's current one if that was planted later (but not after the harvest); its planting day, crop and
    variety (a plot that grew cabbage last season and tomatoes now). Without a known planting: ``SEASON_DAYS``
    back, the plot's crop."""
    past = session.scalar(
        select(PlotSeason)
        .where(PlotSeason.plot_id == plot.id, PlotSeason.planting_date <= harvested_on)
        .order_by(PlotSeason.planting_date.desc())
        .limit(1)
    )
    current = plot.planting_date if plot.planting_date and plot.planting_date <= harvested_on else None
    if past is not None and (current is None or past.planting_date > current):
        return Season(past.planting_date, past.crop, past.variety)
    return Season(current or harvested_on - dt.timedelta(days=SEASON_DAYS), plot.crop, plot.variety)


def _season_diary(session: Session, plot: Plot, harvested_on: dt.date, photo_url=None) -> list[tuple[Any, dict]]:
    """The plot's done diary entries of the season that ended with ``harvested_on``, as (when, item): from the
    planting of the season the harvest belongs to (a finished season's, or the current one's), or ``SEASON_DAYS``
    before the harvest when no planting date is known."""
    since = season_of(session, plot, harvested_on).planted
    start, _ = local_day_bounds(since)
    _, end = local_day_bounds(harvested_on)
    entries = []
    for e in session.scalars(
        select(DiaryEntry)
        .where(
            DiaryEntry.plot_id == plot.id,
            DiaryEntry.deleted_at.is_(None),
            DiaryEntry.status == DiaryStatus.done,
            DiaryEntry.occurred_at >= start,
            DiaryEntry.occurred_at < end,
        )
        .order_by(DiaryEntry.occurred_at)
    ):
        item = {
            "date": fmt_date(local_day(e.occurred_at)),
            "type": e.type.value,
            "type_vi": t(f"diary_type_{e.type.value}", "vi"),
            "type_en": t(f"diary_type_{e.type.value}", "en"),
            "title": e.title,
        }
        if e.type in (DiaryType.pest_control, DiaryType.fertilizing):
            item |= {
                "product": e.product_name,
                "registration_no": e.registration_no,
                "active_ingredient": e.active_ingredient,
                "dose": e.dose,
                "phi_days": e.phi_days,
            }
            if e.phi_days:
                item["phi_ends"] = fmt_date(local_day(e.occurred_at) + dt.timedelta(days=e.phi_days))
        if e.quantity_value is not None:
            item |= {"quantity": e.quantity_value, "unit": e.quantity_unit}
        if photo_url is not None:
            item["photos"] = [photo_url(k) for k in (e.photo_keys or [])]
        entries.append((e.occurred_at, item))
    return entries


def public_view(session: Session, lot: HarvestLot, *, photo_url=None) -> dict[str, Any]:
    """Everything the public page shows, and nothing more (see module docstring). A merged lot shows each source's
    growing area, harvest day and weight (not its code) and the diaries of their plots."""
    from cropwatch.diary.chain import sources

    plot = session.get(Plot, lot.plot_id)
    coop = session.get(Cooperative, lot.cooperative_id)
    season = season_of(session, plot, lot.harvested_on)
    merged = sources(session, lot)
    origins, entries, seen = [], [], set()
    for link, src in merged:
        src_plot = session.get(Plot, src.plot_id)
        origins.append(
            {
                "growing_area_code": src_plot.growing_area_code,
                "harvested_on": fmt_date(src.harvested_on),
                "quantity": link.quantity,
                "unit": src.unit,
            }
        )
        if (src_plot.id, src.harvested_on) not in seen:  # two lots of one plot and day: its diary once
            seen.add((src_plot.id, src.harvested_on))
            for when, item in _season_diary(session, src_plot, src.harvested_on, photo_url):
                entries.append((when, item | {"growing_area_code": src_plot.growing_area_code}))
    if not merged:
        entries = _season_diary(session, plot, lot.harvested_on, photo_url)
    entries.sort(key=lambda pair: pair[0])
    return {
        "code": lot.public_code,
        "cooperative": coop.name,
        "province": coop.province,
        "growing_area_code": plot.growing_area_code,
        "crop": season.crop,
        "variety": season.variety,
        "harvested_on": fmt_date(lot.harvested_on),
        "quantity": lot.quantity,
        "unit": lot.unit,
        "ripeness_grade": lot.ripeness_grade,
        "sources": origins,
        "certifications": certifications.public(_certified(session, lot, plot, season, merged)),
        "diary": [item for _, item in entries],
        "chain": public_chain(session, lot, photo_url),
    }


def _certified(session: Session, lot: HarvestLot, plot: Plot, season: Season, merged: list) -> list:
    """The certificates valid for the lot's crop on its harvest day; for a merged lot, those valid for every
    source's crop on every source's harvest day (one uncertified source and the lot is not certified)."""
    if not merged:
        return certifications.valid_for(session, lot.cooperative_id, season.crop, lot.harvested_on)
    common: dict[int, Any] | None = None
    for _, src in merged:
        src_crop = season_of(session, session.get(Plot, src.plot_id), src.harvested_on).crop
        valid = {c.id: c for c in certifications.valid_for(session, lot.cooperative_id, src_crop, src.harvested_on)}
        common = valid if common is None else {i: c for i, c in common.items() if i in valid}
    return list((common or {}).values())


def qr_png(url: str, box_size: int = 8) -> bytes:
    import qrcode

    img = qrcode.make(url, box_size=box_size, border=2)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def qr_svg(url: str) -> bytes:
    import qrcode
    import qrcode.image.svg

    img = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage)
    buf = io.BytesIO()
    img.save(buf)
    return buf.getvalue()


def label_sheet_pdf(labels: list[tuple[str, HarvestLot, Plot]]) -> bytes:
    """QR labels on A4 sticker sheets: 3 columns × 8 rows of 70 × 37 mm; QR on the left, lot facts on the right."""
    from fpdf import FPDF

    from cropwatch.core.fonts import dejavu

    pdf = FPDF(unit="mm", format="A4")
    pdf.add_font("DejaVu", "", str(dejavu()))
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0)
    w, h, top = 70.0, 37.0, (297 - 8 * 37) / 2
    for n, (url, lot, plot) in enumerate(labels):
        if n % 24 == 0:
            pdf.add_page()
        col, row = n % 3, (n // 3) % 8
        x, y = col * w, top + row * h
        pdf.image(io.BytesIO(qr_png(url, box_size=4)), x=x + 2, y=y + 2, w=h - 4, h=h - 4)
        pdf.set_font("DejaVu", size=7)
        pdf.set_xy(x + h - 1, y + 4)
        for line in (
            plot.crop + (f" — {plot.variety}" if plot.variety else ""),
            f"Thu hoạch: {fmt_date(lot.harvested_on)}",
            f"{lot.quantity:g} {lot.unit}",
            f"Vùng trồng: {plot.growing_area_code or '—'}",
            lot.public_code[:10] + "…",
        ):
            pdf.set_x(x + h - 1)
            pdf.cell(w - h, 4.2, line[:34], new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
