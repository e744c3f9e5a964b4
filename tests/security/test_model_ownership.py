"""A cooperative's ML engineer controls only its own models (finding 2 of the security review).

Reproduced as it was found: cooperative B trains a model from 12 of its own photos (1 epoch, 64 px: mAP50 about 0)
and promotes it. Before the fix the gate passed (0 ≥ 0) and cooperative A's captures were processed by it. Now the
model belongs to B, the gate refuses it without a reason, with a reason it serves only B's cameras, and A's
production model and captures are untouched. The shared (shipped) models answer 403 to B's ML engineer and to the
union admin.
"""

from __future__ import annotations

import datetime as dt

import pytest
from factories import make_tenant, served_by
from fastapi.testclient import TestClient
from helpers import SHARED, rice_photos

from api.app import create_app
from cropwatch.core.enums import ModelStage, ModelTask, Role
from cropwatch.core.orm import ApiToken, Membership, ModelVersion, User
from cropwatch.core.security import hash_password, new_token, token_hash
from cropwatch.core.timeutil import utcnow
from cropwatch.worker.pipeline import CaptureProcessor
from datasets.versions import create_version, import_yolo_folder
from models import registry
from training import jobs
from training.recipes import RECIPES

pytestmark = pytest.mark.slow


def _union_admin_token(session, cooperative_id: int) -> str:
    u = User(username="lienminh-x", full_name="union", password_hash=hash_password("pw-union-admin"))
    session.add(u)
    session.flush()
    session.add(Membership(user_id=u.id, cooperative_id=cooperative_id, role=Role.union_admin))
    tok = new_token("cw")
    session.add(
        ApiToken(
            token_hash=token_hash(tok),
            user_id=u.id,
            cooperative_id=cooperative_id,
            expires_at=utcnow() + dt.timedelta(hours=1),
        )
    )
    return tok


def test_a_model_trained_by_cooperative_b_never_serves_cooperative_a(sessions, storage, settings, models_registered):
    pest = RECIPES["pest"]
    with sessions.begin() as s:
        a, b = make_tenant(s, "own-a"), make_tenant(s, "own-b")
        union = _union_admin_token(s, a.cooperative_id)
    shipped = models_registered["pest"]
    worker = CaptureProcessor(settings.model_copy(update={"model_variant": "fp32"}), sessions, storage)
    worker.models.check_every = 0
    photos = rice_photos(4)

    items, _ = import_yolo_folder(
        storage, SHARED / "rice-pests", name="beta-few", names=pest.names, splits=("train",), limit=12
    )
    with sessions.begin() as s:
        dv = create_version(
            s,
            storage,
            name="beta-few",
            task=ModelTask.pest,
            classes=pest.names,
            items=items,
            cooperative_id=b.cooperative_id,
            created_by=b.user_ids[Role.ml_engineer],
        )
        run = jobs.create_run(
            s,
            dataset=dv,
            created_by=b.user_ids[Role.ml_engineer],
            cooperative_id=b.cooperative_id,
            params={"epochs": 1, "imgsz": 64, "batch": 4, "quantize": False},
        )
        run_id = run.id
    run = jobs.execute(run_id, sessions=sessions, storage=storage, settings=settings)
    assert run.status == "done", run.log + (run.error or "")
    beta_model = run.model_version_id
    with sessions() as s:
        mv = s.get(ModelVersion, beta_model)
        assert mv.cooperative_id == b.cooperative_id, "a model trained on B's data belongs to B"
        assert mv.metrics["map50"] < settings.promotion_min_map50

    with TestClient(create_app(settings, enqueue=lambda _id: None, enqueue_training=lambda _id: None)) as c:
        ml_b = {"Authorization": f"Bearer {b.tokens[Role.ml_engineer]}"}
        ml_a = {"Authorization": f"Bearer {a.tokens[Role.ml_engineer]}"}
        r = c.post(f"/api/v1/models/{beta_model}/promote", headers=ml_b, json={})
        assert (r.status_code, r.json()["code"]) == (409, "gate_refused"), "two zeros no longer pass the gate"
        assert c.post(f"/api/v1/models/{beta_model}/promote", headers=ml_a, json={"reason": "x"}).status_code == 404, (
            "A cannot even see B's model"
        )
        r = c.post(f"/api/v1/models/{beta_model}/promote", headers=ml_b, json={"reason": "trial on our plots"})
        assert r.status_code == 200 and r.json()["stage"] == "production"
        for who in (ml_b, {"Authorization": f"Bearer {union}"}):
            for path, body in (
                (f"/api/v1/models/{shipped}/promote", {"reason": "x"}),
                (f"/api/v1/models/{shipped}/rollback", {"reason": "x"}),
                (f"/api/v1/models/{shipped}/shadow", None),
            ):
                assert c.post(path, headers=who, json=body).status_code == 403, (path, who)

    with sessions() as s:
        assert registry.production(s, ModelTask.pest, a.cooperative_id).id == shipped
        assert registry.production(s, ModelTask.pest).id == shipped
        assert registry.production(s, ModelTask.pest, b.cooperative_id).id == beta_model
        untouched = s.get(ModelVersion, shipped)
        assert untouched.stage == ModelStage.production
        assert [h["action"] for h in untouched.history] == ["register"], "nobody promoted, rolled back or shadowed it"
        actions = [(e.action, e.by_user_id) for e in registry.audit_log(s, cooperative_id=b.cooperative_id)]
        assert actions[:2] == [("promote", b.user_ids[Role.ml_engineer]), ("register", b.user_ids[Role.ml_engineer])]
    assert served_by(worker, sessions, storage, settings, a.camera_id, photos[0]) == shipped
    assert served_by(worker, sessions, storage, settings, b.camera_id, photos[1]) == beta_model
    assert served_by(worker, sessions, storage, settings, a.camera_id, photos[2]) == shipped
