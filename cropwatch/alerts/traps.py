"""Sticky-trap cards: a farmer's "thay bẫy" mark, from which the trap's count starts again at zero
(cropwatch/alerts/counts.py reads the marks; a fall in the count is also taken as a new card)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from cropwatch.core.enums import CameraKind
from cropwatch.core.orm import Camera, TrapChange
from cropwatch.core.timeutil import utcnow

#: a second tap within this time is the same card change (a double tap, a reload)
SAME_CHANGE = dt.timedelta(minutes=2)


class NotATrap(ValueError):
    """Only a sticky-trap camera has a card to change."""


def record_trap_change(
    session: Session, camera: Camera, user_id: int | None, at: dt.datetime | None = None
) -> tuple[TrapChange, bool]:
    """Mark the camera's card replaced at ``at`` (now); returns (the mark, created). A repeat within
    :data:`SAME_CHANGE` returns the earlier mark."""
    if camera.kind != CameraKind.sticky_trap:
        raise NotATrap(camera.name)
    at = at or utcnow()
    last = session.scalar(
        select(TrapChange).where(TrapChange.camera_id == camera.id).order_by(TrapChange.changed_at.desc()).limit(1)
    )
    if last is not None and abs(at - last.changed_at) < SAME_CHANGE:
        return last, False
    mark = TrapChange(cooperative_id=camera.cooperative_id, camera_id=camera.id, changed_at=at, created_by=user_id)
    session.add(mark)
    session.commit()
    return mark, True
