"""The production forecast page (``/forecast``): the table and chart of expected output per crop and week, the
plots it could not forecast, how it is made and its backtest; CSV at ``/forecast.csv``. The figures are the API's
(:mod:`api.routers.forecast`), for the same readers: a cooperative's admin and agronomists, a union admin."""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from api.deps import SessionDep
from api.routers import forecast as forecast_api
from api.web.render import render, translate
from api.web.session import PageUser, csrf_protect, page_locale
from cropwatch.core.orm import Cooperative
from cropwatch.core.timeutil import fmt_date

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])


@router.get("/forecast")
def forecast_page(
    request: Request, session: SessionDep, principal: PageUser, weeks: int = Query(12, ge=1, le=52)
) -> Response:
    got = forecast_api._forecast(session, principal, weeks)
    lang = page_locale(request, principal)
    weeks_seen = sorted({r.week for r in got.rows})
    crops = sorted({r.crop for r in got.rows})
    cell = {(r.crop, r.week): r for r in got.rows}
    chart = {
        "labels": [fmt_date(w) for w in weeks_seen],
        "datasets": [
            {"label": c, "data": [round(cell[(c, w)].expected_kg) if (c, w) in cell else 0 for w in weeks_seen]}
            for c in crops
        ],
        "recorded": {
            "label": translate("forecast_recorded", lang),
            "data": [round(sum(cell[(c, w)].recorded_kg for c in crops if (c, w) in cell)) for w in weeks_seen],
        },
        "y_title": translate("forecast_expected", lang),
        "x_title": translate("forecast_week", lang),
    }
    names = dict(
        session.execute(
            select(Cooperative.id, Cooperative.name).where(
                Cooperative.id.in_({m.cooperative_id for m in got.missing} or {0})
            )
        ).all()
    )
    per_coop = Counter(m.cooperative_id for m in got.missing)
    return render(
        request,
        "forecast.html",
        principal,
        got=got,
        crops=crops,
        chart=chart,
        union_missing=[(names.get(cid, "—"), n) for cid, n in sorted(per_coop.items())],
    )


@router.get("/forecast.csv")
def forecast_page_csv(session: SessionDep, principal: PageUser, weeks: int = Query(12, ge=1, le=52)) -> Response:
    return forecast_api.forecast_csv(session, principal, weeks)


@router.get("/forecast.xlsx")
def forecast_page_xlsx(session: SessionDep, principal: PageUser, weeks: int = Query(12, ge=1, le=52)) -> Response:
    return forecast_api.forecast_xlsx(session, principal, weeks)
