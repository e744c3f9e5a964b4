"""The shipped sticky-trap model on a real glue-board card: a trap camera's photo is read by the trap model over
windows (no camera setting needed), and the densest test card's ~900 insects are counted, not capped at 300."""

from __future__ import annotations

from factories import make_tenant
from helpers import SHARED, upload
from sqlalchemy import func, select

from cropwatch.core.enums import CameraKind
from cropwatch.core.orm import Camera, Detection, InferenceRun, ModelVersion
from cropwatch.worker.pipeline import CaptureProcessor, Outcome
from datasets.tiles import read_boxes

DENSEST = "1328940_0_jpg.rf.qnTCzAczNR8lHHmF4Q9r"


def test_a_trap_camera_counts_a_dense_card_through_the_trap_model(sessions, storage, settings, all_models_registered):
    with sessions.begin() as s:
        tenant = make_tenant(s, "trap")
        s.get(Camera, tenant.camera_id).kind = CameraKind.sticky_trap
    card = SHARED / "sticky-trap-aiinsect" / "images" / "test" / f"{DENSEST}.jpg"
    labelled = len(read_boxes(card.parents[2] / "labels" / "test" / f"{DENSEST}.txt", 1, 1))
    worker = CaptureProcessor(settings.model_copy(update={"detect_conf": None}), sessions, storage)
    cid = upload(sessions, storage, settings, tenant, card.read_bytes())
    assert worker.process_batch(cid).outcome == Outcome.done
    with sessions() as s:
        run = s.scalar(select(InferenceRun).where(InferenceRun.capture_id == cid))
        assert s.get(ModelVersion, run.model_version_id).family == "pest-trap"
        counted = s.scalar(select(func.count(Detection.id)).where(Detection.capture_id == cid))
    assert counted > 300, "the count is not capped at Ultralytics' 300 boxes"
    assert abs(counted - labelled) <= 0.15 * labelled, (counted, labelled)
