"""The golden set (issue 13): human-verified images that no dataset version ever holds, and on which the promotion
gate compares candidate and production."""

from __future__ import annotations

import hashlib

import pytest
from helpers import SHARED

from cropwatch.core.enums import ModelTask
from cropwatch.core.orm import DatasetVersion, ModelVersion
from datasets import golden
from datasets.splits import hash_fraction
from datasets.versions import create_version, import_yolo_folder, load_manifest
from models import registry
from training import jobs
from training.recipes import RECIPES

pytestmark = pytest.mark.slow


def test_golden_images_stay_out_of_datasets_and_the_gate_reads_them(sessions, storage, settings, models_registered):
    pest = RECIPES["pest"]
    seed, _ = import_yolo_folder(
        storage, SHARED / "rice-pests", name="golden-pest-rice", names=pest.names, splits=("test",), limit=6
    )
    train, _ = import_yolo_folder(
        storage, SHARED / "rice-pests", name="few", names=pest.names, splits=("train",), limit=10
    )
    with sessions.begin() as s:
        family = s.get(ModelVersion, models_registered["pest"]).family  # the shipped rice model's: pest-rice
        assert family == "pest-rice"
        assert golden.add(s, task=ModelTask.pest, family=family, items=seed) == 6
        assert golden.add(s, task=ModelTask.pest, family=family, items=seed) == 0, "an image is golden once"
        # someone tries to freeze the golden photos into a dataset with the training ones
        dv = create_version(s, storage, name="mixed", task=ModelTask.pest, classes=pest.names, items=train + seed)
        dv_id = dv.id
        manifest = load_manifest(storage, dv)
        assert {i["sha256"] for i in manifest["images"]}.isdisjoint({g.sha256 for g in seed})
        assert dv.stats["golden_excluded"] == 6 and len(manifest["images"]) == 10
        run = jobs.create_run(
            s,
            dataset=s.get(DatasetVersion, dv_id),
            created_by=None,
            params={"epochs": 1, "imgsz": 64, "batch": 4, "quantize": False},
        )
        run_id = run.id
    run = jobs.execute(run_id, sessions=sessions, storage=storage, settings=settings)
    assert run.status == "done", run.log + (run.error or "")
    assert "golden set (6 images)" in run.log and "pretrained" in run.metrics["start"]
    with sessions.begin() as s:
        cand = s.get(ModelVersion, run.model_version_id)
        g = cand.metrics["golden"]
        assert g["images"] == 6 and g["baseline_model_version_id"] == models_registered["pest"]
        assert registry.gate_map50(cand) == (g["map50"], g["baseline_map50"]), "the gate reads the golden figures"
        assert g["baseline_map50"] > g["map50"], "the shipped model beats a 1-epoch, 64 px model on real photos"
        with pytest.raises(registry.GateRefused):
            registry.promote_gated(s, cand, by=None)


def test_a_continued_training_with_other_classes_is_refused(sessions, storage, settings, models_registered):
    with sessions.begin() as s:
        shipped = s.get(ModelVersion, models_registered["pest"])
        shipped.weights_key = "models/pest/weights/x.pt"  # as if it had PyTorch weights
        storage.put_bytes(shipped.weights_key, b"not reached")
        items, _ = import_yolo_folder(
            storage, SHARED / "rice-pests", name="two", names=RECIPES["pest"].names, splits=("train",), limit=4
        )
        dv = create_version(
            s,
            storage,
            name="two-classes",
            task=ModelTask.pest,
            classes={0: "aphid", 1: "mite"},
            items=[type(i)(i.key, i.sha256, i.width, i.height, [], i.source) for i in items],
        )
        run = jobs.create_run(
            s, dataset=dv, created_by=None, params={"epochs": 1, "imgsz": 64, "batch": 4, "quantize": False}
        )
        run_id = run.id
    run = jobs.execute(run_id, sessions=sessions, storage=storage, settings=settings)
    assert run.status == "failed" and "allow_class_change" in run.error
    with sessions() as s:
        assert registry.production(s, ModelTask.pest).id == models_registered["pest"], "production keeps serving"


def test_golden_seed_command_seeds_a_family_from_a_test_split(sessions, storage, settings, monkeypatch):
    from typer.testing import CliRunner

    from cropwatch.cli import app
    from cropwatch.core.orm import GoldenImage
    from cropwatch.core.settings import get_settings

    for key, value in {
        "DATABASE_URL": settings.database_url,
        "S3_ENDPOINT": settings.s3_endpoint,
        "S3_ACCESS_KEY": settings.s3_access_key,
        "S3_SECRET_KEY": settings.s3_secret_key,
        "S3_BUCKET": settings.s3_bucket,
        "DATA_DIR": str(settings.data_dir),
    }.items():
        monkeypatch.setenv(f"CROPWATCH_{key}", value)
    get_settings.cache_clear()  # the command reads these settings, not an instance cached by an earlier test
    with sessions() as s:  # the schema exists before the command runs
        assert s.query(GoldenImage).count() == 0
    try:
        result = CliRunner().invoke(app, ["golden-seed", "ripeness", "--family", "ripeness-tomato", "--limit", "5"])
        # field-pests-15 has no test split: its golden images are the share the recipe carves out as one
        carved = CliRunner().invoke(app, ["golden-seed", "pest-field", "--limit", "4"])
    finally:
        get_settings.cache_clear()
    assert carved.exit_code == 0, carved.output
    with sessions() as s:
        field = s.query(GoldenImage).filter_by(family="pest-field").all()
    test_share = {
        hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((SHARED / "field-pests-15" / "images" / "train").glob("*.jpg"))
        if hash_fraction(p.name, "test:") < RECIPES["pest-field"].test_fraction
    }
    assert len(field) == 4 and {r.sha256 for r in field} <= test_share, "never an image the model trained on"
    assert result.exit_code == 0, result.output
    assert "5 golden images added from tomato-ripeness-laboro/test" in result.output
    with sessions() as s:
        rows = s.query(GoldenImage).filter_by(task=ModelTask.ripeness).all()
        assert len(rows) == 5 and {r.family for r in rows} == {"ripeness-tomato"}
        assert all(r.boxes and r.source == "seed:tomato-ripeness-laboro/test" for r in rows)
    assert all(storage.stat(r.object_key) is not None for r in rows)
