"""The learning loop end to end: import photos, freeze a dataset version, train 1 epoch, register the candidate,
promote it through the gate; an already-running worker serves it on its next capture; a rollback restores the old."""

from __future__ import annotations

import pytest
from factories import make_tenant, served_by
from helpers import SHARED, rice_photos
from sqlalchemy import select

from cropwatch.core.enums import ModelStage, ModelTask
from cropwatch.core.orm import DatasetVersion, Detection, InferenceRun, ModelVersion
from cropwatch.worker.pipeline import CaptureProcessor
from datasets.versions import create_version, export_coco, import_yolo_folder, load_manifest, materialize, stable_split
from models import registry
from training import jobs
from training.recipes import RECIPES

pytestmark = pytest.mark.slow


def test_import_train_promote_serve_rollback(sessions, storage, settings, models_registered, tmp_path):
    pest = RECIPES["pest"]
    with sessions.begin() as s:
        tenant = make_tenant(s, "ll")
    worker = CaptureProcessor(settings.model_copy(update={"model_variant": "fp32"}), sessions, storage)
    worker.models.check_every = 0  # poll the registry on every capture (production: every 2 s)
    photos = rice_photos(6)
    old_id = models_registered["pest"]
    assert served_by(worker, sessions, storage, settings, tenant.camera_id, photos[0]) == old_id

    # import a few labelled rice-pest photos (train and test splits of the shared set) and freeze a version
    items, stats = import_yolo_folder(
        storage, SHARED / "rice-pests", name="rice-few", names=pest.names, splits=("train",), limit=12
    )
    assert len(items) == 12 and sum(stats.images.values()) == 12
    with sessions.begin() as s:
        dv = create_version(s, storage, name="rice-few", task=ModelTask.pest, classes=pest.names, items=items)
        dv_id = dv.id
        assert dv.version == 1 and sum(dv.stats["images"].values()) == 12
        manifest = load_manifest(storage, dv)
        assert all(i["split"] == stable_split(i["sha256"]) for i in manifest["images"])
        assert export_coco(storage, dv)["annotations"]
        assert storage.stat(dv.preview_key) is not None
        again = create_version(s, storage, name="rice-few", task=ModelTask.pest, classes=pest.names, items=items)
        assert again.version == 2 and load_manifest(storage, again)["images"] == manifest["images"]
    with sessions() as s:
        yaml_path = materialize(storage, s.get(DatasetVersion, dv_id), tmp_path / "yolo")
    assert yaml_path.is_file()

    # one epoch at a small size, then the candidate is registered with its provenance
    with sessions.begin() as s:
        run = jobs.create_run(
            s,
            dataset=s.get(DatasetVersion, dv_id),
            created_by=None,
            params={"epochs": 1, "imgsz": 64, "batch": 4, "quantize": False},
        )
        run_id = run.id
    run = jobs.execute(run_id, sessions=sessions, storage=storage, settings=settings)
    assert run.status == "done", run.log + (run.error or "")
    assert "epoch 1/1" in run.log and run.progress == 1.0
    with sessions() as s:
        cand = s.get(ModelVersion, run.model_version_id)
        assert cand.stage == ModelStage.candidate and cand.dataset_version_id == dv_id
        assert cand.training_run_id == run_id and cand.weights_key and storage.stat(cand.weights_key)
        assert cand.metrics["baseline"]["model_version_id"] == old_id
        # confusion matrix and PR curve, rendered offline and kept with the version
        assert set(cand.metrics["reports"]) == {"confusion_matrix", "pr_curve"}
        assert all(storage.get_bytes(k)[:8] == b"\x89PNG\r\n\x1a\n" for k in cand.metrics["reports"].values())

    # a 1-epoch model from scratch is worse than production: the gate refuses it unless a reason is given
    with sessions.begin() as s:
        cand = s.get(ModelVersion, run.model_version_id)
        if cand.metrics["map50"] < cand.metrics["baseline"]["map50"] - 0.01:
            with pytest.raises(registry.GateRefused):
                registry.promote_gated(s, cand, by=None)
        registry.promote_gated(s, cand, by=None, override_reason="end-to-end test of the learning loop")
        assert cand.history[-1]["action"] == "promote" and cand.history[-1]["reason"]
    new_id = run.model_version_id
    assert served_by(worker, sessions, storage, settings, tenant.camera_id, photos[1]) == new_id

    with sessions.begin() as s:
        old = s.get(ModelVersion, old_id)
        assert old.stage == ModelStage.archived
        registry.rollback(s, old, by=None, reason="the candidate misses planthoppers")
    assert served_by(worker, sessions, storage, settings, tenant.camera_id, photos[2]) == old_id
    with sessions() as s:  # every detection records the version that made it
        for d in s.scalars(select(Detection)):
            run_mv = s.get(InferenceRun, d.run_id).model_version_id
            assert d.model_version_id == run_mv
