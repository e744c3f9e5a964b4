"""One pest model per crop (issue 13): the registry holds a production version per family; a capture goes to the
family declared for its plot's crop (or its camera's kind), promoting one family leaves the others alone, and the
edge agent is configured with its camera's family."""

from __future__ import annotations

import shutil

from factories import make_tenant, served_by
from helpers import rice_photos

from cropwatch.captures import edge_protocol as edge
from cropwatch.core.enums import CameraKind, ModelStage, ModelTask
from cropwatch.core.orm import Camera, Farm, ModelVersion, Plot
from cropwatch.core.security import new_token, token_hash
from cropwatch.worker.pipeline import CaptureProcessor
from models import registry
from training.train import add_onnx_metadata


def _family(s, storage, tmp_path, family: str, *, crops=None, kinds=None, production=True, n=0) -> ModelVersion:
    """A real, distinct model file (the shipped weights with other metadata: routing is under test, not accuracy)
    registered as a version of ``family``."""
    path = tmp_path / f"{family}-{n}.onnx"
    shutil.copyfile(registry.SHIPPED_DIR / "pest" / "pest-rice-yolo11n.onnx", path)
    add_onnx_metadata(path, {"cropwatch_family": family, "cropwatch_copy": str(n)})
    mv = registry.register(
        s,
        storage,
        path,
        task=ModelTask.pest,
        name=f"{family}-{n}",
        card={"family": family, "crops": crops, "camera_kinds": kinds},
    )
    if production:
        registry.promote(s, mv)
    return mv


def test_captures_go_to_the_model_of_their_crop_and_families_promote_apart(
    sessions, storage, settings, models_registered, tmp_path
):
    with sessions.begin() as s:
        tenant = make_tenant(s, "fam", crop="lúa")
        shipped = s.get(ModelVersion, models_registered["pest"])
        shipped.family, shipped.crops = "pest-rice", ["lúa"]
        # the same weights stand in for the field model: routing is under test, not accuracy
        field = _family(s, storage, tmp_path, "pest-field", crops=["rau", "cà chua"])
        trap = _family(s, storage, tmp_path, "pest-trap", kinds=["sticky_trap"])
        field_next = _family(s, storage, tmp_path, "pest-field", crops=["rau"], production=False, n=1)
        farm = s.get(Farm, s.get(Plot, tenant.plot_id).farm_id)
        veg = Plot(cooperative_id=tenant.cooperative_id, farm_id=farm.id, name="Lô rau", crop="rau")
        s.add(veg)
        s.flush()
        veg_cam = Camera(
            cooperative_id=tenant.cooperative_id,
            plot_id=veg.id,
            name="cam rau",
            token_hash=token_hash(new_token("cam")),
        )
        trap_cam = Camera(
            cooperative_id=tenant.cooperative_id,
            plot_id=tenant.plot_id,
            name="bẫy dính",
            token_hash=token_hash(new_token("cam")),
            kind=CameraKind.sticky_trap,
        )
        s.add_all([veg_cam, trap_cam])
        s.flush()
        ids = {
            "rice": shipped.id,
            "field": field.id,
            "trap": trap.id,
            "field_next": field_next.id,
            "veg_cam": veg_cam.id,
            "trap_cam": trap_cam.id,
        }
    worker = CaptureProcessor(settings, sessions, storage)
    worker.models.check_every = 0
    photos = rice_photos(4)
    assert served_by(worker, sessions, storage, settings, tenant.camera_id, photos[0]) == ids["rice"]
    assert served_by(worker, sessions, storage, settings, ids["veg_cam"], photos[1]) == ids["field"]
    assert served_by(worker, sessions, storage, settings, ids["trap_cam"], photos[2]) == ids["trap"]

    with sessions.begin() as s:  # promoting the next field model replaces the field model only
        nxt = s.get(ModelVersion, ids["field_next"])
        nxt.metrics = {"map50": 0.8, "baseline": {"map50": 0.7}}
        registry.promote_gated(s, nxt, by=None)
    with sessions() as s:
        stages = {k: s.get(ModelVersion, ids[k]).stage for k in ("rice", "field", "trap", "field_next")}
        assert stages == {
            "rice": ModelStage.production,
            "field": ModelStage.archived,
            "trap": ModelStage.production,
            "field_next": ModelStage.production,
        }
        assert edge.agent_config(s, s.get(Camera, ids["veg_cam"]))["model"]["version_id"] == ids["field_next"]
        assert edge.agent_config(s, s.get(Camera, tenant.camera_id))["model"]["version_id"] == ids["rice"]
    assert served_by(worker, sessions, storage, settings, ids["veg_cam"], photos[3]) == ids["field_next"]
