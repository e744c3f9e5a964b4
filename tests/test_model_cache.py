"""What a worker serves: the production model's FP32 or INT8 artifact, hot-reloaded on promotion; a bad model is
refused and the previous one keeps serving."""

from __future__ import annotations

import hashlib

import pytest

from cropwatch.core.enums import ModelStage, ModelTask
from cropwatch.core.orm import ModelVersion
from cropwatch.worker.model_cache import ModelCache, NoModel
from models import registry
from training.recipes import RECIPES


@pytest.fixture
def pest_version(sessions, models_registered):
    return models_registered["pest"]


def _cache(settings, storage, **overrides):
    return ModelCache(settings.model_copy(update=overrides), storage, check_every=0)


def test_the_shipped_pest_model_carries_its_int8_variant(sessions, pest_version):
    with sessions() as s:
        mv = s.get(ModelVersion, pest_version)
        int8 = mv.variants["int8"]
        path = registry.variant_path(registry.SHIPPED_DIR / "pest" / "pest-rice-yolo11n.onnx", "int8")
        assert int8["sha256"] == registry.sha256_file(path) != mv.sha256
        assert int8["metrics"]["map50"] > 0


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_a_worker_serves_the_variant_its_setting_names(sessions, storage, settings, pest_version, variant):
    cache = _cache(settings, storage, model_variant=variant)
    with sessions() as s:
        mv_id, detector = cache.get(s, ModelTask.pest)
    assert mv_id == pest_version and detector.variant == variant
    loaded = cache.loaded()[0]
    assert (loaded["variant"], loaded["provider"], loaded["model_version_id"]) == (variant, "cpu", pest_version)


def test_a_cpu_worker_calls_the_model_with_one_image_per_core(sessions, storage, settings, pest_version):
    """A batch of 8 claimed captures goes through the model 2 images at a time on a 2-core CPU worker (one per
    parallel call: the same speed per image, a quarter of the activations held); a setting or a GPU changes it."""
    with sessions() as s:
        assert _cache(settings, storage).get(s, ModelTask.pest)[1].max_batch == 2
        assert _cache(settings, storage, onnx_max_batch=8).get(s, ModelTask.pest)[1].max_batch == 8
    from cropwatch.worker.model_cache import model_call_batch

    gpu = settings.model_copy(update={"execution_provider": "cuda", "batch_size": 16})
    assert model_call_batch(gpu) == 16


def _bad_version(s, storage, data: bytes, *, recorded_sha: str | None = None) -> ModelVersion:
    sha = hashlib.sha256(data).hexdigest()
    key = f"models/pest/{sha}.onnx"
    storage.put_bytes(key, data)
    good = registry.production(s, ModelTask.pest)
    mv = ModelVersion(
        task=ModelTask.pest,
        name="bad",
        onnx_key=key,
        sha256=recorded_sha or sha,
        classes=good.classes,
        input_size=good.input_size,
        stage=ModelStage.candidate,
    )
    s.add(mv)
    s.flush()
    return registry.promote(s, mv)


@pytest.mark.parametrize("damage", ["corrupt", "sha_mismatch"])
def test_a_bad_promoted_model_is_refused_and_the_previous_one_keeps_serving(
    sessions, storage, settings, pest_version, damage, caplog
):
    cache = _cache(settings, storage)
    with sessions() as s:
        assert cache.get(s, ModelTask.pest)[0] == pest_version
    with sessions.begin() as s:
        if damage == "corrupt":
            _bad_version(s, storage, b"\x08\x07 not an onnx file" * 100)
        else:  # the stored bytes are a real model, but not the one the registry recorded
            real = (registry.SHIPPED_DIR / "ripeness" / f"{RECIPES['ripeness'].model_name}.onnx").read_bytes()
            _bad_version(s, storage, real, recorded_sha="0" * 64)
    with sessions() as s:
        mv_id, detector = cache.get(s, ModelTask.pest)
    assert mv_id == pest_version and detector.variant == "fp32"
    assert "refused" in caplog.text


def test_a_new_production_model_is_loaded_without_a_restart(sessions, storage, settings, pest_version):
    cache = _cache(settings, storage)
    with sessions() as s:
        assert cache.get(s, ModelTask.pest)[0] == pest_version
    with sessions.begin() as s:  # the INT8 file registered as a version of its own, then promoted
        path = registry.variant_path(registry.SHIPPED_DIR / "pest" / "pest-rice-yolo11n.onnx", "int8")
        new = registry.register(s, storage, path, task=ModelTask.pest, name="retrained", stage=ModelStage.production)
        new_id = new.id
    with sessions() as s:
        mv_id, detector = cache.get(s, ModelTask.pest)
    assert mv_id == new_id != pest_version


def test_no_production_model_is_a_transient_error(sessions, storage, settings):
    with pytest.raises(NoModel):
        with sessions() as s:
            _cache(settings, storage).get(s, ModelTask.pest)
