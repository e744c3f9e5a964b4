"""Shadow mode: a candidate runs beside production on live captures; its results are stored apart, compared with
production's and with reviewers', and never counted or alerted."""

from __future__ import annotations

import datetime as dt

from factories import add_rule, make_tenant
from helpers import rice_photos
from sqlalchemy import func, select

from cropwatch.captures.ingest import direct_upload
from cropwatch.core.enums import ModelStage, ModelTask, Role
from cropwatch.core.orm import Alert, Camera, Capture, Detection, ShadowResult
from cropwatch.review import actions as review
from cropwatch.worker.pipeline import CaptureProcessor, Outcome
from models import registry
from models.shadow import report


def test_a_shadow_model_is_compared_and_never_alerts(sessions, storage, settings, models_registered):
    with sessions.begin() as s:
        tenant = make_tenant(s, "sh")
        add_rule(s, tenant.cooperative_id, "planthopper", threshold=1)
        int8 = registry.variant_path(registry.SHIPPED_DIR / "pest" / "pest-rice-yolo11n.onnx", "int8")
        cand = registry.register(s, storage, int8, task=ModelTask.pest, name="int8-as-candidate")
        registry.start_shadow(s, cand, by=None)
        cand_id = cand.id
    worker = CaptureProcessor(
        settings.model_copy(update={"shadow_sample_rate": 1.0, "detect_conf": 0.25}), sessions, storage
    )
    ids = []
    for photo in rice_photos(4):
        with sessions() as s:
            cap, _ = direct_upload(
                s,
                storage,
                settings,
                camera=s.get(Camera, tenant.camera_id),
                data=photo.read_bytes(),
                captured_at=dt.datetime.now(dt.timezone.utc),
            )
            ids.append(cap.id)
    for cid in ids:
        assert worker.process(cid).outcome == Outcome.done
    with sessions() as s:
        assert s.scalar(select(func.count(ShadowResult.id))) == 4
        # only production's detections exist as detections, and every alert names production's evidence
        assert {d.model_version_id for d in s.scalars(select(Detection))} <= {models_registered["pest"]}
        alerts_before = s.scalar(select(func.count(Alert.id)))
    # an agronomist reviews one capture: the report compares both models with the verdict
    with sessions.begin() as s:
        cap = s.get(Capture, ids[0])
        dets = s.scalars(select(Detection).where(Detection.capture_id == cap.id)).all()
        if dets:
            review.apply(
                s, capture=cap, user_id=tenant.user_ids[Role.agronomist], action="reject", detection_id=dets[0].id
            )
        else:
            review.apply(s, capture=cap, user_id=tenant.user_ids[Role.agronomist], action="no_pest")
    with sessions() as s:
        rep = report(s, cand_id, cooperative_id=tenant.cooperative_id)
        assert s.scalar(select(func.count(Alert.id))) <= alerts_before  # shadow never raised one
    assert rep["captures"] == 4 and rep["reviewed_captures"] == 1
    total_shadow = sum(c["shadow"] for c in rep["per_class"].values())
    assert total_shadow > 0 and rep["agreement_with_production"]["tp"] > 0
    assert rep["against_reviewers"]["production"]["fp"] >= (1 if dets else 0)
    # another cooperative sees none of these shadow results
    with sessions() as s:
        assert report(s, cand_id, cooperative_id=tenant.cooperative_id + 999)["captures"] == 0
        assert s.get(type(cand), cand_id).stage == ModelStage.shadow
