"""Photo retention (issue 17): photos nothing refers to are thinned after the cooperative's days, one per camera and
day stays, the evidence stays, a review racing the job never loses its photo; real SeaweedFS and database."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from factories import make_tenant
from helpers import bare_model_version, processed_photos
from sqlalchemy import select

from cropwatch.captures import retention
from cropwatch.core.enums import AlertLevel, AlertStatus, DiaryType, ModelTask, Role
from cropwatch.core.orm import (
    Alert,
    Capture,
    Cooperative,
    DiaryEntry,
    GoldenImage,
    RetentionRun,
)
from cropwatch.core.timeutil import utcnow
from cropwatch.review import actions as review

OLD = utcnow() - dt.timedelta(days=40)


@pytest.fixture
def tenant(sessions):
    with sessions.begin() as s:
        return make_tenant(s, "ret")


@pytest.fixture
def model_id(sessions):
    return bare_model_version(sessions)


def _has_photo(storage, sessions, cid) -> bool:
    with sessions() as s:
        return storage.stat(s.get(Capture, cid).object_key) is not None


def test_old_photos_nothing_refers_to_are_thinned_and_the_evidence_stays(sessions, storage, settings, tenant, model_id):
    ids = processed_photos(sessions, storage, settings, tenant, model_id, 11, when=OLD, with_pest={2})
    first, plain_a, pest, reviewed, alerted, in_diary, golden, flagged, plain_b, plain_c, plain_d = ids
    recent = processed_photos(sessions, storage, settings, tenant, model_id, 1, when=utcnow() - dt.timedelta(days=3))[0]
    with sessions.begin() as s:
        s.get(Capture, reviewed).reviewed_at = utcnow()
        s.get(Capture, flagged).flagged_at = utcnow()
        s.add(
            Alert(
                cooperative_id=tenant.cooperative_id,
                plot_id=tenant.plot_id,
                class_name="planthopper",
                level=AlertLevel.warning,
                status=AlertStatus.resolved,
                count=3,
                threshold=3,
                local_day=OLD.date(),
                message_vi="x",
                message_en="x",
                evidence_capture_id=alerted,
            )
        )
        s.add(
            DiaryEntry(
                cooperative_id=tenant.cooperative_id,
                plot_id=tenant.plot_id,
                occurred_at=OLD,
                type=DiaryType.harvest,
                title="Thu hoạch",
                capture_id=in_diary,
            )
        )
        cap = s.get(Capture, golden)
        s.add(
            GoldenImage(
                task=ModelTask.pest,
                object_key=cap.object_key,
                sha256=cap.sha256,
                width=640,
                height=480,
                boxes=[],
                source="test",
            )
        )
    with sessions() as s:
        before = {u.camera_id: u for u in retention.usage(s, tenant.cooperative_id)}[tenant.camera_id]
    assert (before.photos, before.to_free_photos) == (12, 4)

    out = retention.apply_policy(sessions, storage, cooperative_id=tenant.cooperative_id)

    removed = {plain_a, plain_b, plain_c, plain_d}
    assert out.removed == 4 and out.freed_bytes == sum(_size(sessions, i) for i in removed)
    for cid in ids + [recent]:
        assert _has_photo(storage, sessions, cid) == (cid not in removed), cid
    with sessions() as s:
        caps = {c.id: c for c in s.scalars(select(Capture).where(Capture.id.in_(ids)))}
        assert {i for i, c in caps.items() if c.purged_at is not None} == removed
        assert len(caps) == 11, "only photos go: every capture row stays"
        after = {u.camera_id: u for u in retention.usage(s, tenant.cooperative_id)}[tenant.camera_id]
    assert (after.photos, after.removed, after.to_free_photos) == (8, 4, 0)
    # a second night removes nothing more
    assert retention.apply_policy(sessions, storage, cooperative_id=tenant.cooperative_id).removed == 0
    with sessions() as s:
        runs = s.scalars(select(RetentionRun).where(RetentionRun.cooperative_id == tenant.cooperative_id)).all()
    assert [r.removed for r in runs] == [4, 0] and all(r.finished_at for r in runs)


def _size(sessions, cid) -> int:
    with sessions() as s:
        return s.get(Capture, cid).size_bytes


def test_a_cooperative_that_keeps_every_photo_loses_none(sessions, storage, settings, tenant, model_id):
    ids = processed_photos(sessions, storage, settings, tenant, model_id, 3, when=OLD)
    with sessions.begin() as s:
        s.get(Cooperative, tenant.cooperative_id).photo_retention_days = None
    assert retention.apply_all(sessions, storage) == []
    assert all(_has_photo(storage, sessions, i) for i in ids)


def test_a_review_racing_the_job_never_leaves_a_reviewed_capture_without_its_photo(
    sessions, storage, settings, tenant, model_id
):
    ids = processed_photos(sessions, storage, settings, tenant, model_id, 24, when=OLD)
    start = threading.Barrier(2)
    refused: list[int] = []
    errors: list[BaseException] = []

    def reviewer() -> None:
        start.wait()
        for cid in reversed(ids[1:]):  # from the other end, so the two meet in the middle
            try:
                with sessions.begin() as s:
                    review.apply(
                        s, capture=s.get(Capture, cid), user_id=tenant.user_ids[Role.agronomist], action="no_pest"
                    )
            except review.ReviewError as exc:
                assert exc.code == "review_photo_removed"
                refused.append(cid)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    def job() -> None:
        start.wait()
        try:
            retention.apply_policy(sessions, storage, cooperative_id=tenant.cooperative_id, batch=4)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reviewer), threading.Thread(target=job)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    with sessions() as s:
        caps = [s.get(Capture, i) for i in ids[1:]]
    for cap in caps:
        photo = storage.stat(cap.object_key) is not None
        if cap.reviewed_at is not None:
            assert photo and cap.purged_at is None, f"capture {cap.id} reviewed but its photo is gone"
        else:
            assert cap.id in refused or cap.purged_at is not None
            assert photo == (cap.purged_at is None)
    reviewed = sum(c.reviewed_at is not None for c in caps)
    purged = sum(c.purged_at is not None for c in caps)
    assert reviewed + purged == len(caps), "every photo ends reviewed or removed"
    assert all(c.purged_at is not None for c in caps if c.id in refused), "a review was refused for a kept photo"
