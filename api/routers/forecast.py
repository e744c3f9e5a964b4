"""The production forecast (dự báo sản lượng) and the crop profiles it multiplies by.

A cooperative's admin and agronomists read their cooperative's forecast; a union admin reads the union's (every
cooperative sharing its union code), with the plots it could not forecast counted per cooperative, not named."""

from __future__ import annotations

import csv
import datetime as dt
import io

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from api.deps import CurrentUser, Principal, SessionDep
from api.errors import ApiError
from api.schemas import errors
from cropwatch.core.enums import Role
from cropwatch.core.i18n import t
from cropwatch.core.orm import CropProfile
from cropwatch.core.spreadsheet import csv_cell, xlsx_append
from cropwatch.union import forecast
from cropwatch.union.stats import cooperatives_of

router = APIRouter(tags=["production forecast"], responses=errors(401))
READERS = (Role.coop_admin, Role.agronomist, Role.union_admin)


class ForecastRow(BaseModel):
    crop: str
    week: dt.date  # the Monday the week starts
    expected_kg: float
    low_kg: float
    high_kg: float
    recorded_kg: float  # harvests recorded that week


class MissingOut(BaseModel):
    cooperative_id: int
    plot_id: int | None  # None in a union's answer: plots of other cooperatives are counted, not named
    plot_name: str | None
    what: str
    message: str


class BacktestOut(BaseModel):
    crop: str
    seasons: int
    mape_forecast: float
    mape_naive: float


class TimingOut(BaseModel):
    """How far off the forecast put the middle of the picking, ``lead_days`` after a past season's first pick, with
    what its fruit camera had seen by then; next to the typed expected date's error."""

    lead_days: int
    seasons: int
    mae_days_forecast: float
    mae_days_naive: float
    from_camera: int  # seasons the camera's trend timed (the others kept the typed date)


class ForecastOut(BaseModel):
    scope: str  # cooperative | union
    start: dt.date
    weeks: int
    rows: list[ForecastRow]
    missing: list[MissingOut]
    backtest: list[BacktestOut]
    timing: list[TimingOut] = []  # the harvest timing's backtest on fruit crops a camera watches
    how: str  # how the figures were made, in the caller's language


def _scope(session, principal: Principal) -> tuple[str, list[int]]:
    principal.require(*READERS)
    if principal.role == Role.union_admin:
        _, coops = cooperatives_of(session, principal.cooperative_id)
        return "union", [c.id for c in coops]
    return "cooperative", [principal.cooperative_id]


def _locale(principal: Principal) -> str:
    return principal.user.locale or "vi"


def _forecast(session, principal: Principal, weeks: int) -> ForecastOut:
    scope, ids = _scope(session, principal)
    got = forecast.weekly(session, ids, weeks=weeks)
    lang = _locale(principal)
    union = scope == "union"
    missing = [
        MissingOut(
            cooperative_id=m.cooperative_id,
            plot_id=None if union else m.plot_id,
            plot_name=None if union else m.plot_name,
            what=m.what,
            message=t(m.what, lang, plot=m.plot_name if not union else "—"),
        )
        for m in got["missing"]
    ]
    return ForecastOut(
        scope=scope,
        start=got["from"],
        weeks=weeks,
        rows=[ForecastRow(**r) for r in got["rows"]],
        missing=missing,
        backtest=[BacktestOut(crop=c, **v) for c, v in forecast.backtest(session, ids).items()],
        timing=[TimingOut(lead_days=k, **v) for k, v in forecast.timing_backtest(session, ids).items()],
        how=t("forecast_how", lang),
    )


@router.get("/api/v1/forecast", response_model=ForecastOut, responses=errors(403))
def get_forecast(session: SessionDep, principal: CurrentUser, weeks: int = Query(12, ge=1, le=52)) -> ForecastOut:
    """Expected output per crop and week (kg, with its band) from this week on, the harvests recorded, the plots
    that could not be forecast and why, and the backtest's error next to the naive baseline."""
    return _forecast(session, principal, weeks)


HEADERS = ("crop", "week", "expected", "low", "high", "recorded")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _table(got: ForecastOut, lang: str) -> list[list]:
    head = [t(f"forecast_csv_{k}", lang) for k in HEADERS]
    return [head] + [
        [r.crop, r.week.strftime("%d/%m/%Y"), r.expected_kg, r.low_kg, r.high_kg, r.recorded_kg] for r in got.rows
    ]


@router.get(
    "/api/v1/forecast.xlsx",
    responses={200: {"content": {XLSX: {}}, "description": "the forecast's rows as a spreadsheet"}, **errors(403)},
)
def forecast_xlsx(session: SessionDep, principal: CurrentUser, weeks: int = Query(12, ge=1, le=52)) -> Response:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    got = _forecast(session, principal, weeks)
    wb = Workbook()
    ws = wb.active
    ws.title = t("forecast_sheet", _locale(principal))
    table = _table(got, _locale(principal))
    ws.append(table[0])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in table[1:]:
        xlsx_append(ws, row)
    buf = io.BytesIO()
    wb.save(buf)
    return Response(
        buf.getvalue(),
        media_type=XLSX,
        headers={"Content-Disposition": 'attachment; filename="du-bao-san-luong.xlsx"'},
    )


@router.get(
    "/api/v1/forecast.csv",
    responses={200: {"content": {"text/csv": {}}, "description": "the forecast's rows"}, **errors(403)},
)
def forecast_csv(session: SessionDep, principal: CurrentUser, weeks: int = Query(12, ge=1, le=52)) -> Response:
    got = _forecast(session, principal, weeks)
    out = io.StringIO()
    w = csv.writer(out)
    for row in _table(got, _locale(principal)):
        w.writerow([csv_cell(v) for v in row])
    return Response(
        "\ufeff" + out.getvalue(),  # a BOM: Excel opens Vietnamese text as UTF-8
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="du-bao-san-luong.csv"'},
    )


class ProfileIn(BaseModel):
    crop: str = Field(min_length=1, max_length=100)
    variety: str = Field(default="", max_length=100)
    yield_kg_per_ha: float = Field(gt=0, le=500_000)
    days_to_harvest: int = Field(ge=1, le=3650)
    harvest_days: int = Field(default=7, ge=1, le=365)
    #: the product's GS1 GTIN (8, 12, 13 or 14 digits), when the cooperative has one: lots' QR codes then carry a
    #: GS1 Digital Link
    gtin: str | None = Field(default=None, max_length=14)


class ProfileOut(ProfileIn):
    model_config = {"from_attributes": True}
    source: str  # cooperative | default


def _own(p: CropProfile) -> ProfileOut:
    return ProfileOut(
        crop=p.crop,
        variety=p.variety,
        yield_kg_per_ha=p.yield_kg_per_ha,
        days_to_harvest=p.days_to_harvest,
        harvest_days=p.harvest_days,
        gtin=p.gtin,
        source="cooperative",
    )


@router.get("/api/v1/crop-profiles", response_model=list[ProfileOut], responses=errors(403))
def list_profiles(session: SessionDep, principal: CurrentUser) -> list[ProfileOut]:
    """The cooperative's crop profiles, and the defaults for the crops it has not set."""
    principal.require(Role.coop_admin, Role.agronomist)
    own = session.scalars(
        select(CropProfile).where(CropProfile.cooperative_id == principal.cooperative_id).order_by(CropProfile.crop)
    ).all()
    out = [_own(p) for p in own]
    mine = {p.crop for p in own if not p.variety}
    for crop, p in forecast.DEFAULT_PROFILES.items():
        if crop not in mine:
            out.append(
                ProfileOut(
                    crop=crop,
                    yield_kg_per_ha=p.yield_kg_per_ha,
                    days_to_harvest=p.days_to_harvest,
                    harvest_days=p.harvest_days,
                    source="default",
                )
            )
    return out


@router.put("/api/v1/crop-profiles", response_model=ProfileOut, responses=errors(400, 403, 422))
def put_profile(body: ProfileIn, session: SessionDep, principal: CurrentUser) -> ProfileOut:
    """Set the cooperative's figures for a crop (and variety): the forecast uses them from now on."""
    principal.require(Role.coop_admin)
    crop, variety = body.crop.strip(), body.variety.strip()
    if not crop:
        raise ApiError(422, "forecast_profile_crop")
    row = session.scalar(
        select(CropProfile).where(
            CropProfile.cooperative_id == principal.cooperative_id,
            CropProfile.crop == crop,
            CropProfile.variety == variety,
        )
    )
    if row is None:
        row = CropProfile(cooperative_id=principal.cooperative_id, crop=crop, variety=variety)
        session.add(row)
    if body.gtin:
        from cropwatch.diary.gs1 import normalize_gtin

        try:
            row.gtin = normalize_gtin(body.gtin)
        except ValueError:
            session.rollback()
            raise ApiError(422, "gtin_invalid") from None
    else:
        row.gtin = None
    row.yield_kg_per_ha, row.days_to_harvest, row.harvest_days = (
        body.yield_kg_per_ha,
        body.days_to_harvest,
        body.harvest_days,
    )
    session.commit()
    return _own(row)
