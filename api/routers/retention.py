"""The cooperative's photo retention policy: what its photos take per camera, what the policy frees, its last runs."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select

from api.deps import CurrentUser, SessionDep
from api.errors import ApiError
from api.schemas import errors
from cropwatch.captures import retention
from cropwatch.core.enums import Role
from cropwatch.core.orm import Cooperative, RetentionRun

router = APIRouter(tags=["photo retention"], responses=errors(401))
MIN_DAYS, MAX_DAYS = 7, 3650


class CameraUsageOut(BaseModel):
    camera_id: int
    name: str
    photos: int
    bytes: int
    removed: int
    to_free_photos: int
    to_free_bytes: int


class RetentionRunOut(BaseModel):
    model_config = {"from_attributes": True}
    started_at: dt.datetime
    finished_at: dt.datetime | None
    days: int
    removed: int
    freed_bytes: int
    errors: int


class RetentionOut(BaseModel):
    days: int | None  # None: every photo is kept
    cameras: list[CameraUsageOut]
    runs: list[RetentionRunOut]  # the last ten, newest first


class RetentionIn(BaseModel):
    days: int | None


def _policy(session, cooperative_id: int) -> RetentionOut:
    days = session.scalar(select(Cooperative.photo_retention_days).where(Cooperative.id == cooperative_id))
    runs = session.scalars(
        select(RetentionRun)
        .where(RetentionRun.cooperative_id == cooperative_id)
        .order_by(RetentionRun.id.desc())
        .limit(10)
    )
    return RetentionOut(
        days=days,
        cameras=[CameraUsageOut(**vars(u)) for u in retention.usage(session, cooperative_id)],
        runs=[RetentionRunOut.model_validate(r) for r in runs],
    )


@router.get("/api/v1/retention", response_model=RetentionOut, responses=errors(403))
def get_policy(session: SessionDep, principal: CurrentUser) -> RetentionOut:
    """The policy (days), storage used per camera and what the policy would free if it ran now, the last runs."""
    principal.require(Role.coop_admin)
    return _policy(session, principal.cooperative_id)


@router.put("/api/v1/retention", response_model=RetentionOut, responses=errors(400, 403, 422))
def set_policy(body: RetentionIn, session: SessionDep, principal: CurrentUser) -> RetentionOut:
    """Keep photos nothing refers to for ``days`` days (7 to 3650), or every photo (``null``)."""
    principal.require(Role.coop_admin)
    if body.days is not None and not MIN_DAYS <= body.days <= MAX_DAYS:
        raise ApiError(422, "retention_days_invalid", low=MIN_DAYS, high=MAX_DAYS)
    coop = session.get(Cooperative, principal.cooperative_id)
    coop.photo_retention_days = body.days
    session.commit()
    return _policy(session, principal.cooperative_id)
