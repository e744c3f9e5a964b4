from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import or_, select

from api.deps import CurrentUser, SessionDep
from api.schemas import ModelOut, errors
from cropwatch.core.orm import ModelVersion

router = APIRouter(prefix="/api/v1/models", tags=["models"], responses=errors(401))


@router.get("", response_model=list[ModelOut])
def list_models(session: SessionDep, principal: CurrentUser) -> list[ModelVersion]:
    """Model versions the caller's cooperative can use (shared ones and its own)."""
    q = select(ModelVersion).where(
        or_(ModelVersion.cooperative_id.is_(None), ModelVersion.cooperative_id == principal.cooperative_id)
    )
    return list(session.scalars(q.order_by(ModelVersion.id)))
