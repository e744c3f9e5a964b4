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

from cropwatch.captures.ingest import is_direct
from cropwatch.core.enums import CaptureStatus
from cropwatch.core.orm import Capture
from cropwatch.core.timeutil import utcnow

log = logging.getLogger(__name__)


def stuck_captures(session: Session, *, older_than: dt.timedelta, limit: int = 500) -> list[Capture]:
    cutoff = utcnow() - older_than
    return list(
        session.scalars(
            select(Capture)
            .where(
                or_(Capture.status == CaptureStatus.stored, Capture.status == CaptureStatus.processing),
                Capture.updated_at < cutoff,
            )
            .order_by(Capture.updated_at)
            .limit(limit)
        )
    )


def sweep(sessions: sessionmaker[Session], enqueue: Callable[[int], None], *, older_than: dt.timedelta) -> int:
    """Publish detect() again for each stuck capture; returns how many were re-enqueued."""
    count = 0
    with sessions() as s:
        for cap in stuck_captures(s, older_than=older_than):
            try:
                enqueue(cap.id)
            except Exception as exc:  # noqa: BLE001 - broker still down, whatever the error: try again next sweep
                log.warning("sweeper: broker unavailable (%s); the remaining captures wait for the next sweep", exc)
                break
            cap.updated_at = utcnow()  # not picked again before the next period
            s.commit()
            count += 1
    if count:
        log.info("sweeper re-enqueued %d captures", count)
    return count


def clean_uploads(
    sessions: sessionmaker[Session],
    storage,
    *,
    now: dt.datetime | None = None,
    grace: dt.timedelta = dt.timedelta(minutes=10),
    limit: int = 1000,
) -> dict[str, int]:
    """Keep ``incoming/`` to the uploads still expected: a presigned URL stays usable until it expires, so a PUT
    after confirm (or to an expired slot) leaves an object nobody reads. Every object under ``incoming/`` that is
    not the upload of a pending slot is removed, and pending slots expired for longer than ``grace`` are dropped
    (never accepted: the camera asks for a new slot). The set of expected keys is read *after* listing, so an upload
    whose slot was created meanwhile is kept. A direct slot's upload lies at its capture's own key: it goes with
    its expired slot."""
    now = now or utcnow()
    keys = storage.list_keys("incoming/")[:limit]
    removed_slots = 0
    with sessions.begin() as s:
        expired = list(
            s.scalars(
                select(Capture)
                .where(Capture.status == CaptureStatus.pending, Capture.upload_expires_at < now - grace)
                .limit(limit)
            )
        )
        for cap in expired:
            if cap.multipart_upload_id:
                try:
                    storage.abort_multipart(cap.upload_key, cap.multipart_upload_id)
                except Exception:  # noqa: BLE001 - the upload may be gone already
                    log.info("capture %s: multipart upload already gone", cap.id)
            if is_direct(cap):
                storage.remove(cap.upload_key)  # S3 answers a missing key's DELETE with 204 too
            s.delete(cap)
            removed_slots += 1
    with sessions() as s:
        expected = set(
            s.scalars(
                select(Capture.upload_key).where(
                    Capture.status == CaptureStatus.pending, Capture.upload_key.is_not(None)
                )
            )
        )
    removed = 0
    for key in keys:
        if key not in expected:
            storage.remove(key)
            removed += 1
    if removed or removed_slots:
        log.info("uploads cleaned: %s objects, %s expired slots", removed, removed_slots)
    return {"objects": removed, "slots": removed_slots}
