from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentUser, SessionDep
from api.schemas import Id, PlotOut, errors
from api.scoping import get_owned, scoped
from cropwatch.core.orm import Plot

router = APIRouter(prefix="/api/v1/plots", tags=["plots"], responses=errors(401))


@router.get("", response_model=list[PlotOut])
def list_plots(session: SessionDep, principal: CurrentUser) -> list[Plot]:
    return list(session.scalars(scoped(Plot, principal).order_by(Plot.id)))


@router.get("/{plot_id}", response_model=PlotOut, responses=errors(404))
def get_plot(plot_id: Id, session: SessionDep, principal: CurrentUser) -> Plot:
    return get_owned(session, Plot, plot_id, principal, "plot")
