"""Batching in the worker keeps every per-capture guarantee: each capture claimed, stored, retried or failed alone."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from factories import make_tenant
from helpers import rice_photos, upload
from sqlalchemy import func, select

from cropwatch.core.enums import CaptureStatus
from cropwatch.core.orm import Camera, Capture, InferenceRun
from cropwatch.worker.pipeline import CaptureProcessor, Outcome


@pytest.fixture
def tenant(sessions):
    with sessions.begin() as s:
        return make_tenant(s, "b")


@pytest.fixture
def processor(settings, sessions, storage, models_registered):
    return CaptureProcessor(settings, sessions, storage)


def _runs(sessions, cid):
    with sessions() as s:
        return s.scalar(select(func.count(InferenceRun.id)).where(InferenceRun.capture_id == cid))


def _spy_batches(monkeypatch, processor, sessions):
    """Record the size of every batch the detector is given (the real detector still runs)."""
    sizes: list[int] = []
    with sessions() as s:
        _, detector = processor.models.get(s, s.scalars(select(Camera)).first().model_task)
    real = detector.predict_batch

    def predict_batch(images, **kw):
        sizes.append(len(images))
        return real(images, **kw)

    monkeypatch.setattr(detector, "predict_batch", predict_batch)
    return sizes


def test_one_task_takes_the_waiting_captures_into_one_batch_and_each_is_stored_once(
    processor, sessions, storage, settings, tenant, monkeypatch
):
    ids = [upload(sessions, storage, settings, tenant, p.read_bytes()) for p in rice_photos(5)]
    sizes = _spy_batches(monkeypatch, processor, sessions)
    assert processor.process_batch(ids[2]).outcome == Outcome.done
    assert sizes == [5]
    with sessions() as s:
        caps = [s.get(Capture, i) for i in ids]
        assert all(c.status == CaptureStatus.done and c.attempts == 1 for c in caps)
    assert [_runs(sessions, i) for i in ids] == [1] * 5
    # the other captures' own messages arrive afterwards: nothing is written twice
    for i in ids:
        assert processor.process_batch(i).outcome == Outcome.already_done
    assert [_runs(sessions, i) for i in ids] == [1] * 5


def test_a_capture_from_a_crashed_batch_goes_alone(processor, sessions, storage, settings, tenant, monkeypatch):
    ids = [upload(sessions, storage, settings, tenant, p.read_bytes()) for p in rice_photos(3)]
    long_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=settings.stuck_after_seconds + 5)
    with sessions.begin() as s:  # the worker died while holding ids[0]; its lease has run out
        cap = s.get(Capture, ids[0])
        cap.status, cap.attempts, cap.claimed_at = CaptureStatus.processing, 1, long_ago
    sizes = _spy_batches(monkeypatch, processor, sessions)
    assert processor.process_batch(ids[0]).outcome == Outcome.done
    assert sizes == [1], "a capture that was in a crash must not take others with it"
    with sessions() as s:
        assert s.get(Capture, ids[0]).attempts == 2
        assert s.get(Capture, ids[1]).status == CaptureStatus.stored


def test_a_duplicate_delivery_stands_back_while_a_worker_holds_the_claim(
    processor, sessions, storage, settings, tenant
):
    cid = upload(sessions, storage, settings, tenant, rice_photos(1)[0].read_bytes())
    with sessions.begin() as s:  # another worker claimed it a moment ago
        cap = s.get(Capture, cid)
        cap.status, cap.attempts, cap.claimed_at = CaptureStatus.processing, 1, dt.datetime.now(dt.timezone.utc)
    assert processor.process_batch(cid).outcome == Outcome.in_progress
    with sessions() as s:
        cap = s.get(Capture, cid)
        assert cap.status == CaptureStatus.processing and cap.attempts == 1
    assert _runs(sessions, cid) == 0


def test_a_poison_image_in_a_batch_fails_alone(processor, sessions, storage, settings, tenant):
    good = [upload(sessions, storage, settings, tenant, p.read_bytes()) for p in rice_photos(2)]
    data = rice_photos(3)[2].read_bytes()
    bad = upload(sessions, storage, settings, tenant, data[: len(data) // 2])  # truncated JPEG
    assert processor.process_batch(good[0]).outcome == Outcome.done
    with sessions() as s:
        assert [s.get(Capture, i).status for i in good] == [CaptureStatus.done] * 2
        failed = s.get(Capture, bad)
        assert failed.status == CaptureStatus.failed and failed.error


def test_a_tiled_camera_is_detected_over_windows(processor, sessions, storage, settings, tenant):
    with sessions.begin() as s:
        s.get(Camera, tenant.camera_id).tiling = {"tile": 320, "overlap": 0.25}
    cid = upload(sessions, storage, settings, tenant, rice_photos(1)[0].read_bytes())
    assert processor.process_batch(cid).outcome == Outcome.done
    assert _runs(sessions, cid) == 1


def test_a_model_trained_on_windows_reads_a_photo_over_windows_without_a_camera_setting(
    processor, sessions, storage, settings, tenant, monkeypatch
):
    """A sticky-trap model (its card declares ``tile``) is read the way its count error was measured: windows of
    its training size, overlap 0.2, no whole-photo pass, on a camera that sets no tiling of its own."""
    import cv2
    import numpy as np

    from cropwatch.core.orm import Detection, ModelVersion
    from inference.detector import OnnxDetector
    from inference.tiling import TileConfig, detect_tiled
    from models import registry

    with sessions.begin() as s:
        cam = s.get(Camera, tenant.camera_id)
        mv = registry.production(s, cam.model_task, cam.cooperative_id, crop="lúa", camera_kind=cam.kind)
        mv.detect_settings = {**registry.detect_settings(mv), "tile": 640}
        assert cam.tiling is None
        mv_id = mv.id
    photo = cv2.imread(str(rice_photos(1)[0]))
    big = cv2.resize(photo, (1280, 1280), interpolation=cv2.INTER_CUBIC)  # 3 × 3 windows of 640 px
    cid = upload(sessions, storage, settings, tenant, cv2.imencode(".jpg", big)[1].tobytes())
    sizes = _spy_batches(monkeypatch, processor, sessions)
    assert processor.process_batch(cid).outcome == Outcome.done
    assert sizes == [9], "nine windows in one batch, and no whole-photo pass"
    with sessions() as s:
        mv = s.get(ModelVersion, mv_id)
        stored = s.scalars(select(Detection).where(Detection.capture_id == cid).order_by(Detection.score.desc()))
        got = np.array([(d.class_id, d.score, d.x1, d.y1, d.x2, d.y2) for d in stored])
        fetched = storage.get_bytes(s.get(Capture, cid).object_key)
    image = cv2.imdecode(np.frombuffer(fetched, np.uint8), cv2.IMREAD_COLOR)
    worker_settings = registry.detect_settings(mv) | settings.detect_overrides  # as the worker runs it
    local = OnnxDetector(registry.SHIPPED_DIR / "pest" / f"{mv.name}.onnx", **worker_settings)
    want = detect_tiled(local, image, TileConfig(tile=640, overlap=0.2, include_full=False))
    expected = np.column_stack([want.class_id, want.confidence, want.xyxy])
    assert len(got) == len(expected) > 0, "the same detections, as many"
    assert np.allclose(got, expected, atol=0.01), "the same boxes and scores"


def _outcome_of_the_day(sessions, tenant):
    """What a farmer and an auditor see of the plot's day: the open alerts and the automatic diary observations."""
    from cropwatch.core.enums import AlertStatus, DiarySource
    from cropwatch.core.orm import Alert, DiaryEntry, Plot

    with sessions() as s:
        plot_name = s.get(Plot, tenant.plot_id).name  # the two tenants' plots differ by name only
        alerts = sorted(
            (a.class_name, a.level.value, a.count, a.message_vi.replace(plot_name, "…"))
            for a in s.scalars(
                select(Alert).where(Alert.plot_id == tenant.plot_id, Alert.status != AlertStatus.resolved)
            )
        )
        entries = sorted(
            (e.subject, e.title, len(e.detection_ids or []), e.occurred_at)
            for e in s.scalars(
                select(DiaryEntry).where(
                    DiaryEntry.plot_id == tenant.plot_id, DiaryEntry.source == DiarySource.automatic
                )
            )
        )
    return alerts, entries


def test_a_batch_of_one_plots_photos_gives_the_alerts_and_diary_of_one_by_one(
    processor, sessions, storage, settings, models_registered
):
    """The batch path evaluates the rules and writes the diary once per plot and day, after all its photos are
    stored; a farmer and an auditor must see the same cards and the same day's figures as capture by capture."""
    from factories import add_rule

    from cropwatch.core.enums import AlertLevel

    photos = [p.read_bytes() for p in rice_photos(6)]
    noon = dt.datetime(2026, 11, 20, 5, 0, tzinfo=dt.timezone.utc)  # 12:00 in Hà Nội: one local day
    seen = []
    for code, batched in (("one", False), ("many", True)):
        with sessions.begin() as s:
            t = make_tenant(s, code)
            for name in processor.models.get(s, s.get(Camera, t.camera_id).model_task)[1].names.values():
                add_rule(s, t.cooperative_id, name, threshold=2, level=AlertLevel.danger)
        ids = [
            upload(sessions, storage, settings, t, p, when=noon + dt.timedelta(minutes=i)) for i, p in enumerate(photos)
        ]
        if batched:
            assert processor.process_many(ids)[ids[0]].outcome == Outcome.done
        else:
            assert all(processor.process(i).outcome == Outcome.done for i in ids)
        seen.append(_outcome_of_the_day(sessions, t))
    one, many = seen
    assert one[0], "the photos should raise at least one alert at threshold 2"
    assert many == one
    # a Vietnamese title writes the day's figure the Vietnamese way (no "9.0")
    assert not [title for _, title, _, _ in many[1] if re.search(r"\d\.\d", title)]


def test_a_write_conflict_in_a_batch_stores_the_others_one_by_one(
    processor, sessions, storage, settings, tenant, monkeypatch
):
    """A duplicate delivery stored one capture of the batch between its claim and its store: the batch's one
    transaction fails on the unique (capture, model) key, and every capture is still stored exactly once."""
    from cropwatch.captures import results

    ids = [upload(sessions, storage, settings, tenant, p.read_bytes()) for p in rice_photos(4)]
    real = results.record_results
    calls = []

    def racing(s, batch):
        calls.append(len(batch))
        if len(batch) > 1:  # another worker's delivery of the first capture commits first
            first = batch[0]
            with sessions.begin() as other:
                cap = other.get(Capture, first.capture.id)
                results.store_detections(
                    other,
                    capture=cap,
                    model_version_id=first.model_version_id,
                    detections=first.detections,
                    elapsed_ms=1.0,
                    width=first.width,
                    height=first.height,
                )
        return real(s, batch)

    monkeypatch.setattr("cropwatch.worker.pipeline.record_results", racing)
    got = processor.process_many(ids)
    assert calls[0] == 4, "the batch was meant to be stored in one transaction"
    assert got[ids[0]].outcome == Outcome.already_done
    assert [got[i].outcome for i in ids[1:]] == [Outcome.done] * 3
    assert [_runs(sessions, i) for i in ids] == [1] * 4
    with sessions() as s:
        assert all(s.get(Capture, i).status == CaptureStatus.done for i in ids)


def test_a_capture_given_back_after_its_message_was_spent_elsewhere_gets_a_new_one(
    settings, sessions, storage, tenant, models_registered
):
    """The capture that waited for the sweeper in the 20-minute soak: worker A's batch holds capture Y; Y's own
    message reaches worker B, which stands back (in_progress) and so spends it; then A's object storage fails and
    A gives Y back. Y must be published again at once, not left `stored` without a message until the sweeper."""
    from cropwatch.core.storage import Storage, StorageError

    x, y = (upload(sessions, storage, settings, tenant, p.read_bytes()) for p in rice_photos(2))
    published: list[int] = []
    worker_b = CaptureProcessor(settings, sessions, storage, requeue=published.append)
    seen_by_b: list[Outcome] = []

    class StorageDownForA(Storage):
        """Worker A's object storage failing (simulated outage) right after B was handed Y's message."""

        def get_bytes(self, key, *, max_bytes=None):
            if not seen_by_b:
                seen_by_b.append(worker_b.process_batch(y).outcome)
            raise StorageError("connection refused (simulated outage of worker A's S3)")

    worker_a = CaptureProcessor(settings, sessions, StorageDownForA(settings), requeue=published.append)
    assert worker_a.process_batch(x).outcome == Outcome.retry  # x: its own message retries with a back-off
    assert seen_by_b == [Outcome.in_progress]
    assert published == [y], "y's message was spent by B: A publishes it again when it gives y back"
    with sessions() as s:
        cap = s.get(Capture, y)
        assert (cap.status, cap.requeue_needed) == (CaptureStatus.stored, False)
    # the new message processes it (x, waiting too, goes in the same batch); a capture given back whose message
    # is still alive gets no second one
    assert worker_b.process_batch(y).outcome == Outcome.done
    z = upload(sessions, storage, settings, tenant, rice_photos(3)[2].read_bytes())
    assert worker_a.process_batch(z).outcome == Outcome.retry and published == [y]


def test_a_capture_stored_while_another_worker_read_it_is_not_claimed_back(
    processor, sessions, storage, settings, tenant
):
    """The soak's lost capture: worker B reads a capture as `stored`; before B writes its claim, worker A claims
    it, stores its detections and marks it done. B's claim must see that (compare and set) instead of putting the
    done capture back to `processing`, which made it go round the sweeper until it failed after 3 attempts."""
    cid = upload(sessions, storage, settings, tenant, rice_photos(1)[0].read_bytes())
    if sessions.kw["bind"].dialect.name != "sqlite":
        pytest.skip("PostgreSQL locks the row it reads (FOR UPDATE): another worker cannot write between")
    worker_a = CaptureProcessor(settings, sessions, storage)
    real_get = sessions.class_.get

    def get_then_a_stores_it(self, *args, **kwargs):
        cap = real_get(self, *args, **kwargs)
        if args and args[0] is Capture and not getattr(get_then_a_stores_it, "done", False):
            get_then_a_stores_it.done = True
            assert worker_a.process(cid).outcome == Outcome.done  # A, between B's read and B's write
        return cap

    sessions.class_.get = get_then_a_stores_it
    try:
        got = processor._claim(cid)
    finally:
        sessions.class_.get = real_get
    assert getattr(got, "outcome", None) == Outcome.in_progress
    with sessions() as s:
        cap = s.get(Capture, cid)
        assert (cap.status, cap.attempts) == (CaptureStatus.done, 1)
    assert _runs(sessions, cid) == 1


def test_a_capture_whose_results_are_stored_becomes_done_when_met_again(processor, sessions, storage, settings, tenant):
    """However a capture with stored results came back to `processing` (an older worker's write, a restore), the
    next delivery finds its inference run and marks it done, not failed after its attempts."""
    cid = upload(sessions, storage, settings, tenant, rice_photos(1)[0].read_bytes())
    assert processor.process(cid).outcome == Outcome.done
    with sessions.begin() as s:
        cap = s.get(Capture, cid)
        cap.status, cap.claimed_at = CaptureStatus.stored, None
    assert processor.process(cid).outcome == Outcome.already_done
    with sessions() as s:
        assert s.get(Capture, cid).status == CaptureStatus.done
    assert _runs(sessions, cid) == 1
