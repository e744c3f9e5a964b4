from __future__ import annotations

import datetime as dt

from factories import make_tenant

from cropwatch.captures.sweeper import sweep
from cropwatch.core.enums import CaptureStatus
from cropwatch.core.orm import Capture
from cropwatch.core.timeutil import utcnow


def test_sweeper_reenqueues_only_captures_stuck_long_enough(sessions):
    with sessions.begin() as s:
        t = make_tenant(s, "s")
        old = utcnow() - dt.timedelta(minutes=10)
        rows = {}
        for status, updated in [
            ("stored", old),
            ("processing", old),
            ("stored", utcnow()),
            ("done", old),
            ("pending", old),
            ("failed", old),
        ]:
            c = Capture(
                cooperative_id=t.cooperative_id,
                camera_id=t.camera_id,
                plot_id=t.plot_id,
                object_key=f"raw/{status}-{len(rows)}",
                sha256=f"{len(rows):064d}",
                size_bytes=1,
                captured_at=old,
                status=CaptureStatus(status),
            )
            s.add(c)
            s.flush()
            c.updated_at = updated
            rows[(status, updated == old)] = c
    published: list[int] = []
    assert sweep(sessions, published.append, older_than=dt.timedelta(minutes=2)) == 2
    assert sorted(published) == sorted([rows[("stored", True)].id, rows[("processing", True)].id])
    # not again before the period has passed
    assert sweep(sessions, published.append, older_than=dt.timedelta(minutes=2)) == 0


def test_sweeper_keeps_captures_when_the_broker_is_down(sessions):
    with sessions.begin() as s:
        t = make_tenant(s, "s2")
        c = Capture(
            cooperative_id=t.cooperative_id,
            camera_id=t.camera_id,
            plot_id=t.plot_id,
            object_key="raw/x",
            sha256="1" * 64,
            size_bytes=1,
            captured_at=utcnow(),
            status=CaptureStatus.stored,
        )
        s.add(c)
        s.flush()
        c.updated_at = utcnow() - dt.timedelta(minutes=10)

    def broker_down(_):
        raise ConnectionError("broker down")

    assert sweep(sessions, broker_down, older_than=dt.timedelta(minutes=2)) == 0
    published: list[int] = []
    assert sweep(sessions, published.append, older_than=dt.timedelta(minutes=2)) == 1
