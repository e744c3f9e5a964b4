"""Field agents (camera_agents/): heartbeat, configuration, model download; and the admin's agent settings.

The wire format is docs/edge-protocol.md.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from api.deps import CurrentCamera, CurrentUser, SessionDep, StorageDep
from api.errors import ApiError
from api.schemas import Id, binary, errors
from api.scoping import get_owned
from cropwatch.captures import edge_protocol as edge
from cropwatch.core.enums import Role
from cropwatch.core.orm import Camera
from cropwatch.core.timeutil import utcnow
from models import registry

router = APIRouter(tags=["field agents"], responses=errors(401))


class HeartbeatIn(BaseModel):
    agent_version: str | None = Field(default=None, max_length=40)
    disk_free_bytes: int | None = Field(default=None, ge=0)
    disk_total_bytes: int | None = Field(default=None, ge=0)
    temperature_c: float | None = Field(default=None, ge=-60, le=150)
    battery_pct: float | None = Field(default=None, ge=0, le=100)
    backlog: int | None = Field(default=None, ge=0)
    evicted_total: int | None = Field(default=None, ge=0)
    uploaded_total: int | None = Field(default=None, ge=0)
    last_error: str | None = Field(default=None, max_length=1000)
    model_sha256: str | None = Field(default=None, max_length=64)


class AgentConfigIn(BaseModel):
    mode: Literal["all", "detections", "crops"] | None = None
    edge_detection: bool | None = None
    daylight_only: bool | None = None
    jpeg_quality: int | None = Field(default=None, ge=30, le=100)
    max_side: int | None = Field(default=None, ge=0, le=10000)
    max_upload_kbps: int | None = Field(default=None, ge=0, le=1_000_000)


@router.post("/api/v1/cameras/me/heartbeat", responses=errors(400))
def heartbeat(body: HeartbeatIn, session: SessionDep, camera: CurrentCamera) -> dict:
    """The agent's state (shown to admins on the cameras page); answers the agent's configuration."""
    camera.agent_status = body.model_dump()
    camera.agent_reported_at = utcnow()
    session.commit()
    return edge.agent_config(session, camera)


@router.get("/api/v1/cameras/me/config")
def config(session: SessionDep, camera: CurrentCamera) -> dict:
    return edge.agent_config(session, camera)


@router.get(
    "/api/v1/cameras/me/model",
    response_class=Response,
    responses={**binary("application/octet-stream", description="the ONNX model"), **errors(404, 503)},
)
def model(session: SessionDep, storage: StorageDep, camera: CurrentCamera) -> Response:
    """The ONNX file of the production model of the camera's task (INT8 when it has one), with its sha256."""
    mv = edge.camera_model(session, camera)
    if mv is None:
        raise ApiError(404, "no_model_for_camera")
    variant, key, sha = registry.artifact(mv, edge.AGENT_VARIANT)
    return Response(
        storage.get_bytes(key),
        media_type="application/octet-stream",
        headers={
            "X-Model-SHA256": sha,
            "X-Model-Variant": variant,
            "X-Model-Version": str(mv.id),
            "Content-Disposition": f'attachment; filename="{mv.name}.{variant}.onnx"',
        },
    )


@router.patch("/api/v1/cameras/{camera_id}/agent-config", responses=errors(400, 403, 404, 422))
def set_agent_config(camera_id: Id, body: AgentConfigIn, session: SessionDep, principal: CurrentUser) -> dict:
    """Change a field agent's mode, edge detection, image size/quality or bandwidth cap; the agent applies it
    on its next heartbeat."""
    principal.require(Role.coop_admin)
    cam = get_owned(session, Camera, camera_id, principal, "camera")
    cfg = (cam.agent_config or {}) | body.model_dump(exclude_none=True)
    if cfg.get("mode", "all") != "all" and not cfg.get("edge_detection"):
        raise ApiError(422, "agent_mode_needs_edge")
    cam.agent_config = cfg
    session.commit()
    return edge.agent_config(session, cam)
