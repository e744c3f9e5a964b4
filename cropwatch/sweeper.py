"""Re-enqueue captures stuck in `stored`/`processing`: the database is the outbox of the queue.

An accepted upload is a `stored` row before it is a message, so a broker outage or a lost
message delays a capture but never loses it. Duplicate messages are harmless (results are
write-once per capture and model).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from cropwatch.domain import CaptureStatus
from cropwatch.tables import Capture
from cropwatch.timeutil import utcnow

log = logging.getLogger(__name__)


def stuck_captures(session: Session, *, older_than: dt.timedelta, limit: int = 500) -> list[Capture]:
    cutoff = utcnow() - older_than
    return list(session.scalars(
        select(Capture)
        .where(
            or_(Capture.status == CaptureStatus.stored, Capture.status == CaptureStatus.processing),
            Capture.updated_at < cutoff,
        )
        .order_by(Capture.updated_at)
        .limit(limit)
    ))


def sweep(sessions: sessionmaker[Session], enqueue: Callable[[int], None], *, older_than: dt.timedelta) -> int:
    """Publish detect() again for each stuck capture; returns how many were re-enqueued."""
    count = 0
    with sessions() as s:
        for cap in stuck_captures(s, older_than=older_than):
            try:
                enqueue(cap.id)
            except Exception as exc:  # broker still down: try again next sweep
                log.warning("sweeper: broker unavailable (%s); the remaining captures wait for the next sweep", exc)
                break
            cap.updated_at = utcnow()  # not picked again before the next period
            s.commit()
            count += 1
    if count:
        log.info("sweeper re-enqueued %d captures", count)
    return count
