from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Response
from pydantic import BaseModel
from sqlalchemy import select

from api.deps import CurrentUser, SessionDep
from api.errors import ApiError
from api.schemas import CameraIn, CameraOut, CameraWithToken, Id, errors
from api.scoping import get_owned, scoped
from cropwatch.alerts.traps import NotATrap, record_trap_change
from cropwatch.core.enums import Role
from cropwatch.core.orm import Camera, Plot, TrapChange
from cropwatch.core.security import new_token, token_hash

router = APIRouter(prefix="/api/v1/cameras", tags=["cameras"], responses=errors(401))
#: who may mark a sticky trap's card replaced: the people in the field and the cooperative's staff
TRAP_MARKERS = (Role.member, Role.agronomist, Role.coop_admin)


class TrapChangeOut(BaseModel):
    model_config = {"from_attributes": True}
    id: int
    camera_id: int
    changed_at: dt.datetime
    created_by: int | None


def _issue_token(session: SessionDep, cam: Camera) -> CameraWithToken:
    """Give the camera a fresh device token (stored hashed); the plain token is returned once."""
    token = new_token("cam")
    cam.token_hash, cam.token_revoked_at = token_hash(token), None
    session.commit()
    return CameraWithToken(**CameraOut.model_validate(cam).model_dump(), device_token=token)


@router.get("", response_model=list[CameraOut])
def list_cameras(session: SessionDep, principal: CurrentUser) -> list[Camera]:
    return list(session.scalars(scoped(Camera, principal).order_by(Camera.id)))


@router.get("/{camera_id}", response_model=CameraOut, responses=errors(404))
def get_camera(camera_id: Id, session: SessionDep, principal: CurrentUser) -> Camera:
    return get_owned(session, Camera, camera_id, principal, "camera")


@router.post("", response_model=CameraWithToken, status_code=201, responses=errors(400, 403, 404))
def create_camera(body: CameraIn, session: SessionDep, principal: CurrentUser) -> CameraWithToken:
    """Register a camera on a plot; its device token is shown once and stored hashed."""
    principal.require(Role.coop_admin)
    get_owned(session, Plot, body.plot_id, principal, "plot")
    cam = Camera(cooperative_id=principal.cooperative_id, **body.model_dump())
    session.add(cam)
    return _issue_token(session, cam)


@router.post("/{camera_id}/rotate-token", response_model=CameraWithToken, responses=errors(403, 404))
def rotate_token(camera_id: Id, session: SessionDep, principal: CurrentUser) -> CameraWithToken:
    """Issue a new device token; the old one stops working at once."""
    principal.require(Role.coop_admin)
    cam = get_owned(session, Camera, camera_id, principal, "camera")
    return _issue_token(session, cam)


@router.post("/{camera_id}/revoke-token", response_model=CameraOut, responses=errors(403, 404))
def revoke_token(camera_id: Id, session: SessionDep, principal: CurrentUser) -> Camera:
    """Revoke the device token (a stolen or retired device); uploads answer 401 from then on."""
    principal.require(Role.coop_admin)
    cam = get_owned(session, Camera, camera_id, principal, "camera")
    from cropwatch.core.timeutil import utcnow

    cam.token_revoked_at = utcnow()
    session.commit()
    return cam


@router.post(
    "/{camera_id}/trap-changes", response_model=TrapChangeOut, status_code=201, responses=errors(403, 404, 422)
)
def mark_trap_change(camera_id: Id, session: SessionDep, principal: CurrentUser, response: Response) -> TrapChange:
    """Mark the sticky trap's card replaced now ("thay bẫy"): its count starts again from zero. A repeat within two
    minutes answers 200 with the same mark. 422 ``not_a_trap`` for a camera that is no sticky trap."""
    principal.require(*TRAP_MARKERS)
    cam = get_owned(session, Camera, camera_id, principal, "camera")
    try:
        mark, created = record_trap_change(session, cam, principal.user.id)
    except NotATrap:
        raise ApiError(422, "not_a_trap") from None
    if not created:
        response.status_code = 200
    return mark


@router.get("/{camera_id}/trap-changes", response_model=list[TrapChangeOut], responses=errors(404))
def list_trap_changes(camera_id: Id, session: SessionDep, principal: CurrentUser) -> list[TrapChange]:
    cam = get_owned(session, Camera, camera_id, principal, "camera")
    return list(
        session.scalars(
            select(TrapChange).where(TrapChange.camera_id == cam.id).order_by(TrapChange.changed_at.desc()).limit(100)
        )
    )
