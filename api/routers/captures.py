from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CurrentUser, SessionDep, SettingsDep, StorageDep
from api.schemas import BIGINT_MAX, CaptureDetail, CaptureOut, DetectionOut, Id, Moment, errors
from api.scoping import get_owned, scoped
from cropwatch.core.enums import CaptureStatus
from cropwatch.core.orm import Capture

router = APIRouter(prefix="/api/v1/captures", tags=["captures"], responses=errors(401))


@router.get("", response_model=list[CaptureOut])
def list_captures(
    session: SessionDep,
    principal: CurrentUser,
    plot_id: Id | None = None,
    camera_id: Id | None = None,
    status: CaptureStatus | None = None,
    since: Moment | None = None,
    until: Moment | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=BIGINT_MAX)] = 0,
) -> list[Capture]:
    q = scoped(Capture, principal)
    if plot_id is not None:
        q = q.where(Capture.plot_id == plot_id)
    if camera_id is not None:
        q = q.where(Capture.camera_id == camera_id)
    if status is not None:
        q = q.where(Capture.status == status)
    if since is not None:
        q = q.where(Capture.captured_at >= since)
    if until is not None:
        q = q.where(Capture.captured_at < until)
    return list(session.scalars(q.order_by(Capture.captured_at.desc(), Capture.id.desc()).limit(limit).offset(offset)))


@router.get("/{capture_id}", response_model=CaptureDetail, responses=errors(404))
def get_capture(
    capture_id: Id, session: SessionDep, principal: CurrentUser, storage: StorageDep, settings: SettingsDep
) -> CaptureDetail:
    """A capture with its detections and a short-lived URL of the image."""
    cap = get_owned(session, Capture, capture_id, principal, "capture")
    url = None
    if cap.status != CaptureStatus.pending and cap.purged_at is None:
        url = storage.presigned_get(
            cap.object_key, dt.timedelta(seconds=settings.image_url_expiry_seconds), content_type=cap.content_type
        )
    return CaptureDetail(
        **CaptureOut.model_validate(cap).model_dump(),
        detections=[DetectionOut.model_validate(d) for d in sorted(cap.detections, key=lambda d: -d.score)],
        image_url=url,
    )
