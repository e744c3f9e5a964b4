"""The worker's service on real photos with the shipped pest model: detections stored once, alerts, diary."""

from __future__ import annotations

import pytest
from factories import add_rule, make_tenant
from helpers import planthopper_photo, rice_photos, upload
from sqlalchemy import func, select

from cropwatch.core.enums import CaptureStatus, DiarySource
from cropwatch.core.orm import Alert, Camera, Capture, Detection, DiaryEntry, InferenceRun, Plot
from cropwatch.core.storage import StorageError
from cropwatch.worker.pipeline import CaptureProcessor, Outcome


@pytest.fixture
def tenant(sessions):
    with sessions.begin() as s:
        return make_tenant(s, "p")


@pytest.fixture
def processor(settings, sessions, storage, models_registered):
    return CaptureProcessor(settings, sessions, storage)


def counts(sessions, model):
    with sessions() as s:
        return s.scalar(select(func.count(model.id)))


def test_capture_becomes_detections_alert_and_diary_entry(processor, sessions, storage, settings, tenant):
    photos = rice_photos(8)
    ids = [upload(sessions, storage, settings, tenant, p.read_bytes()) for p in photos]
    from cropwatch.core.enums import ModelTask
    from models import registry

    with sessions.begin() as s:  # a rule for every class of the model, threshold 1 per day
        for name in registry.production(s, ModelTask.pest).classes.values():
            add_rule(s, tenant.cooperative_id, name, threshold=1)
    results = [processor.process(i) for i in ids]
    assert all(r.outcome == Outcome.done for r in results)
    with sessions() as s:
        caps = s.scalars(select(Capture).where(Capture.id.in_(ids))).all()
        assert {c.status for c in caps} == {CaptureStatus.done}
        total = s.scalar(select(func.count(Detection.id)))
        assert total > 0, "the shipped pest model found nothing on 8 real rice-pest photos"
        det = s.scalars(select(Detection)).first()
        assert 0 <= det.x1 < det.x2 <= 640 and 0 <= det.y1 < det.y2 <= 640 and det.score >= settings.detect_conf
        alerts = s.scalars(select(Alert)).all()
        assert alerts and all(a.count >= 1 for a in alerts)
        assert all(a.message_vi and a.message_en for a in alerts)
        # one open alert per (plot, pest, level): updated, not repeated
        keys = [(a.plot_id, a.class_name, a.level) for a in alerts]
        assert len(keys) == len(set(keys))
        auto = s.scalars(select(DiaryEntry).where(DiaryEntry.source == DiarySource.automatic)).all()
        # one automatic observation per plot, pest and day (not one per photo), holding every photo's detections
        pests = {d.class_name for d in s.scalars(select(Detection))}
        assert sorted(e.subject for e in auto) == sorted(pests)
        assert sorted(i for e in auto for i in e.detection_ids) == sorted(s.scalars(select(Detection.id)))
        assert all(e.type.value == "observation" and e.status.value == "pending" for e in auto)
        assert all(
            e.title.startswith("Quan sát tự động") and e.title_en.startswith("Automatic") and not e.notes for e in auto
        ), "one language per line: no English under the Vietnamese"


def test_processing_twice_writes_results_once(processor, sessions, storage, settings, tenant):
    cid = upload(sessions, storage, settings, tenant, rice_photos(1)[0].read_bytes())
    with sessions.begin() as s:
        add_rule(s, tenant.cooperative_id, "anything", threshold=1)
    assert processor.process(cid).outcome == Outcome.done
    before = (counts(sessions, Detection), counts(sessions, Alert), counts(sessions, DiaryEntry))
    assert processor.process(cid).outcome == Outcome.already_done
    # a duplicate delivery that raced past the status check is stopped by the unique (capture, model) key
    with sessions.begin() as s:
        s.get(Capture, cid).status = CaptureStatus.stored
    assert processor.process(cid).outcome == Outcome.already_done
    assert (counts(sessions, Detection), counts(sessions, Alert), counts(sessions, DiaryEntry)) == before
    assert counts(sessions, InferenceRun) == 1


def truncated_jpeg() -> bytes:
    data = rice_photos(1)[0].read_bytes()
    return data[: len(data) // 3]


def test_truncated_jpeg_ends_failed_with_reason_and_worker_goes_on(processor, sessions, storage, settings, tenant):
    bad = upload(sessions, storage, settings, tenant, truncated_jpeg())
    good = upload(sessions, storage, settings, tenant, rice_photos(2)[1].read_bytes())
    result = processor.process(bad)
    assert result.outcome == Outcome.failed
    with sessions() as s:
        cap = s.get(Capture, bad)
        assert cap.status == CaptureStatus.failed and "corrupt" in cap.error
    assert processor.process(good).outcome == Outcome.done


def test_capture_lost_mid_task_n_times_ends_failed(processor, sessions, storage, settings, tenant):
    """A poison image that kills the worker every time: after max_attempts it is failed, with the reason."""
    cid = upload(sessions, storage, settings, tenant, rice_photos(1)[0].read_bytes())
    with sessions.begin() as s:
        cap = s.get(Capture, cid)
        cap.status, cap.attempts = CaptureStatus.processing, settings.max_attempts
    result = processor.process(cid)
    assert result.outcome == Outcome.failed
    with sessions() as s:
        cap = s.get(Capture, cid)
        assert cap.status == CaptureStatus.failed and "gave up after 3 attempts" in cap.error


def test_storage_outage_is_retried_without_using_up_attempts(
    processor, sessions, storage, settings, tenant, monkeypatch
):
    cid = upload(sessions, storage, settings, tenant, rice_photos(1)[0].read_bytes())

    def down(*a, **k):
        raise StorageError("connection refused")

    monkeypatch.setattr(processor.storage, "get_bytes", down)
    assert processor.process(cid).outcome == Outcome.retry
    with sessions() as s:
        cap = s.get(Capture, cid)
        assert cap.status == CaptureStatus.stored and cap.attempts == 0
    monkeypatch.undo()
    assert processor.process(cid).outcome == Outcome.done


def test_a_big_phone_photo_is_read_near_the_models_size_with_boxes_in_its_own_pixels(
    processor, sessions, storage, settings, tenant
):
    import cv2
    import numpy as np

    from inference.detections import Detections
    from inference.nms import box_iou

    small = cv2.imread(str(planthopper_photo()))
    big = cv2.resize(small, (small.shape[1] * 6, small.shape[0] * 6), interpolation=cv2.INTER_CUBIC)
    ok, jpeg = cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 92])
    cid = upload(sessions, storage, settings, tenant, jpeg.tobytes())
    assert processor.process(cid).outcome == Outcome.done
    with sessions() as s:
        cap = s.get(Capture, cid)
        assert (cap.width, cap.height) == (big.shape[1], big.shape[0]), "the photo's own size, not the decoded one"
        stored = [d.record for d in s.scalars(select(Detection).where(Detection.capture_id == cid))]
        camera, plot = s.get(Camera, cap.camera_id), s.get(Plot, cap.plot_id)
        _, detector = processor.models.get(
            s, camera.model_task, cap.cooperative_id, crop=plot.crop, camera_kind=camera.kind
        )
    # the same model on the whole photo decoded at full size: the boxes that count agree
    full = detector.predict_batch([big], conf=0.25)[0]
    assert len(full), "the model finds the planthopper on the big photo"
    kept = Detections.of_records([r for r in stored if r.score >= 0.25])
    iou = box_iou(full.xyxy, kept.xyxy)
    for i, cls in enumerate(full.class_id.tolist()):
        same = [j for j in range(len(kept)) if kept.class_id[j] == cls]
        assert same and max(iou[i, j] for j in same) >= 0.8, "a box of the full-size read is missing"
    assert np.all(kept.xyxy[:, 2] <= big.shape[1]) and np.all(kept.xyxy[:, 3] <= big.shape[0])
