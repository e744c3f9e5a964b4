"""Camera-facing routes, authenticated by the camera's device token."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, Response, UploadFile

from api.deps import CurrentCamera, SessionDep, SettingsDep, StorageDep
from api.errors import not_found
from api.schemas import CaptureOut, ConfirmIn, Id, Moment, SlotIn, SlotOut, UploadOut, errors
from cropwatch.captures import edge_protocol as edge
from cropwatch.captures import ingest
from cropwatch.core.orm import Capture
from cropwatch.core.timeutil import utcnow

router = APIRouter(
    prefix="/api/v1/ingest",
    tags=["ingest (cameras)"],
    responses=errors(400, 401, 404, 409, 410, 413, 415, 422, 429, 503),
)
_CREATED = {201: {"model": SlotOut, "description": "A new capture (200: one that existed already)"}}
log = logging.getLogger(__name__)


def _enqueue(request: Request, capture_id: int) -> None:
    try:
        request.app.state.enqueue(capture_id)
    except Exception as exc:  # noqa: BLE001 - any broker error: the capture is `stored`, the sweeper relays it
        log.warning("broker unavailable, capture %s waits for the sweeper: %s", capture_id, exc)


@router.post("/slots", response_model=SlotOut, responses=_CREATED)
def request_slot(
    body: SlotIn,
    session: SessionDep,
    storage: StorageDep,
    settings: SettingsDep,
    camera: CurrentCamera,
    response: Response,
) -> SlotOut:
    """Ask for a presigned PUT URL for one image (idempotent per camera and sha256)."""
    slot = ingest.request_slot(
        session,
        storage,
        settings,
        camera=camera,
        sha256=body.sha256,
        size=body.size,
        captured_at=body.captured_at,
        multipart=body.multipart,
        direct=body.direct,
    )
    response.status_code = 201 if slot.created else 200
    uploading = slot.upload_url is not None or slot.multipart is not None
    return SlotOut(
        capture_id=slot.capture.id,
        status=slot.capture.status,
        upload_url=slot.upload_url,
        upload_headers=slot.upload_headers or {},
        expires_at=slot.capture.upload_expires_at if uploading else None,
        duplicate=not uploading,
        multipart=slot.multipart,
    )


@router.post("/captures/{capture_id}/confirm", response_model=CaptureOut)
def confirm(
    request: Request,
    capture_id: Id,
    session: SessionDep,
    storage: StorageDep,
    settings: SettingsDep,
    camera: CurrentCamera,
    body: ConfirmIn | None = None,
) -> Capture:
    """Tell the server the upload finished (a multipart upload is assembled here): it verifies the object and
    queues detection — or, with ``edge``, stores the detections the camera's agent ran and evaluates alerts."""
    cap = session.get(Capture, capture_id)
    if cap is None or cap.camera_id != camera.id:
        raise not_found("capture")
    body = body or ConfirmIn()
    mv, dets = None, []
    if body.edge:
        sent = [d.record() for d in body.edge.detections]
        mv, dets = edge.check_edge(session, camera, body.edge.model_sha256, sent)
    was_pending = cap.status.value == "pending"
    cap = ingest.confirm(session, storage, settings, capture=cap)
    if was_pending and body.kind != cap.kind:
        cap.kind = body.kind
        session.commit()
    if mv is not None:
        edge.accept_edge(session, cap, mv, dets, body.edge.duration_ms)
    elif was_pending:
        _enqueue(request, cap.id)
    return cap


@router.post(
    "/upload",
    response_model=UploadOut,
    responses={201: {"model": UploadOut, "description": "Stored (200: the same image was stored before)"}},
)
async def upload(
    request: Request,
    session: SessionDep,
    storage: StorageDep,
    settings: SettingsDep,
    camera: CurrentCamera,
    response: Response,
    file: Annotated[UploadFile, File()],
    captured_at: Annotated[Moment | None, Form()] = None,
) -> UploadOut:
    """Direct multipart upload for simple cameras (one request, no presigned URL)."""
    data = await file.read(settings.max_upload_bytes + 1)
    cap, created = ingest.direct_upload(
        session, storage, settings, camera=camera, data=data, captured_at=captured_at or utcnow()
    )
    if created:
        _enqueue(request, cap.id)
    response.status_code = 201 if created else 200
    return UploadOut(capture=CaptureOut.model_validate(cap), duplicate=not created)
