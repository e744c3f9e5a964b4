"""Review of detections by agronomists (queue, actions, agreement) and farmers' "please check" flags."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from api.deps import CurrentUser, SessionDep, SettingsDep, StorageDep
from api.errors import ApiError
from api.routers.captures import get_capture
from api.schemas import CaptureDetail, FlagIn, Id, QueueItemOut, ReviewIn, ReviewOut, errors
from api.scoping import get_owned
from cropwatch.core.enums import CaptureStatus, Role
from cropwatch.core.orm import Capture, Review
from cropwatch.core.timeutil import local_day, utcnow
from cropwatch.review import actions as review

router = APIRouter(tags=["review"], responses=errors(401))

REVIEWERS = (Role.agronomist, Role.coop_admin)
READERS = (Role.agronomist, Role.coop_admin, Role.ml_engineer)


@router.get("/api/v1/review/queue", response_model=list[QueueItemOut], responses=errors(403))
def review_queue(
    session: SessionDep,
    principal: CurrentUser,
    settings: SettingsDep,
    plot_id: Id | None = None,
    class_name: str | None = None,
    min_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    max_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[QueueItemOut]:
    """Unreviewed captures, most useful first (flagged by a farmer, near the threshold, rare class, random sample)."""
    principal.require(*READERS)
    items = review.queue(
        session,
        cooperative_id=principal.cooperative_id,
        threshold=settings.review_threshold,
        limit=limit,
        plot_id=plot_id,
        class_name=class_name,
        min_score=min_score,
        max_score=max_score,
        salt=str(local_day(utcnow())),
    )
    return [QueueItemOut(**vars(item)) for item in items]


@router.post(
    "/api/v1/captures/{capture_id}/reviews",
    response_model=CaptureDetail,
    responses=errors(400, 403, 404, 409, 410, 422),
)
def review_capture(
    capture_id: Id,
    body: ReviewIn,
    session: SessionDep,
    principal: CurrentUser,
    settings: SettingsDep,
    storage: StorageDep,
) -> CaptureDetail:
    """Confirm, reject, relabel, add a missed box, adjust a box, or mark "no pest present"; counts and open alerts
    of the plot's day are recomputed. Answers the capture as it is now."""
    principal.require(*REVIEWERS)
    cap = get_owned(session, Capture, capture_id, principal, "capture")
    if cap.status != CaptureStatus.done:
        raise ApiError(409, "review_not_processed")
    try:
        action = review.Action(body.action)
    except ValueError:
        raise ApiError(422, "review_bad_action", actions=", ".join(a.value for a in review.Action)) from None
    try:
        review.apply(
            session,
            capture=cap,
            user_id=principal.user.id,
            action=action,
            detection_id=body.detection_id,
            class_name=body.class_name,
            box=review.Box(*body.box) if body.box else None,
            note=body.note,
        )
    except review.ReviewError as exc:
        session.rollback()
        status = {"not_found": 404, "review_photo_removed": 410}.get(exc.code, 422)
        raise ApiError(status, exc.code, **exc.params) from None
    session.commit()
    session.expire_all()  # the capture's detections changed under it
    return get_capture(capture_id, session, principal, storage, settings)


@router.get("/api/v1/captures/{capture_id}/reviews", response_model=list[ReviewOut], responses=errors(404))
def capture_reviews(capture_id: Id, session: SessionDep, principal: CurrentUser) -> list[Review]:
    """Every review of the capture, oldest first: who, when, before → after."""
    get_owned(session, Capture, capture_id, principal, "capture")
    return list(session.scalars(select(Review).where(Review.capture_id == capture_id).order_by(Review.id)))


@router.post("/api/v1/captures/{capture_id}/flag", response_model=CaptureDetail, responses=errors(400, 404))
def flag_capture(
    capture_id: Id,
    body: FlagIn,
    session: SessionDep,
    principal: CurrentUser,
    settings: SettingsDep,
    storage: StorageDep,
) -> CaptureDetail:
    """A farmer asks an agronomist to look at this photo (it goes first in the review queue)."""
    cap = get_owned(session, Capture, capture_id, principal, "capture")
    cap.flagged_at, cap.flag_note = utcnow(), body.note
    session.commit()
    session.expire_all()  # the capture's detections changed under it
    return get_capture(capture_id, session, principal, storage, settings)


@router.get("/api/v1/review/agreement", responses=errors(403))
def review_agreement(session: SessionDep, principal: CurrentUser) -> dict:
    """Per class: reviewers' verdicts on the model's detections and the resulting precision."""
    principal.require(*READERS)
    return {
        "classes": review.agreement(session, cooperative_id=principal.cooperative_id),
        "weekly": review.agreement_over_time(session, cooperative_id=principal.cooperative_id),
    }
