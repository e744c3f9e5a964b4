"""The learning loop over HTTP: dataset versions from reviewed captures, training runs, the promotion gate and
rollback; roles and cooperatives are kept apart."""

from __future__ import annotations

import pytest
from factories import make_platform_ml
from helpers import planthopper_photo, presigned_upload

from cropwatch.core.enums import ModelStage, ModelTask, Role
from cropwatch.core.orm import ModelVersion
from cropwatch.worker.pipeline import CaptureProcessor
from models import registry

PHOTO = planthopper_photo()


@pytest.fixture
def reviewed(client, tenant_a, sessions, storage, settings, models_registered):
    cap = presigned_upload(client, tenant_a.camera_auth, PHOTO.read_bytes()).json()
    CaptureProcessor(settings.model_copy(update={"detect_conf": 0.25}), sessions, storage).process(cap["id"])
    return cap


def test_dataset_versions_come_from_reviewed_captures_only(client, tenant_a, tenant_b, reviewed):
    ml = tenant_a.auth(Role.ml_engineer)
    r = client.post("/api/v1/datasets", headers=ml, json={"name": "rice-htx-a"})
    assert (r.status_code, r.json()["code"]) == (422, "dataset_empty")
    detail = client.get(f"/api/v1/captures/{reviewed['id']}", headers=ml).json()
    first = detail["detections"][0]
    client.post(
        f"/api/v1/captures/{reviewed['id']}/reviews",
        headers=tenant_a.auth(Role.agronomist),
        json={"action": "reject", "detection_id": first["id"]},
    )
    r = client.post("/api/v1/datasets", headers=ml, json={"name": "rice-htx-a"})
    assert r.status_code == 201, r.text
    dv = r.json()
    assert dv["version"] == 1 and sum(dv["stats"]["images"].values()) == 1
    assert sum(dv["stats"]["boxes_per_class"].values()) == len(detail["detections"]) - 1  # the rejected box is out
    assert dv["preview_url"]
    assert client.post("/api/v1/datasets", headers=ml, json={"name": "rice-htx-a"}).json()["version"] == 2
    assert client.post("/api/v1/datasets", headers=tenant_a.auth(Role.member), json={"name": "x"}).status_code == 403
    assert client.post("/api/v1/datasets", headers=ml, json={"name": "Bad Name!"}).status_code == 422
    # cooperative B sees none of it
    assert client.get(f"/api/v1/datasets/{dv['id']}", headers=tenant_b.auth(Role.ml_engineer)).status_code == 404
    assert dv["id"] not in [
        d["id"] for d in client.get("/api/v1/datasets", headers=tenant_b.auth(Role.ml_engineer)).json()
    ]


def test_a_training_run_is_queued_for_the_training_workers(client, tenant_a, tenant_b, reviewed):
    queued = []
    client.app.state.enqueue_training = queued.append
    ml = tenant_a.auth(Role.ml_engineer)
    client.post(
        f"/api/v1/captures/{reviewed['id']}/reviews", headers=tenant_a.auth(Role.agronomist), json={"action": "no_pest"}
    )
    dv = client.post("/api/v1/datasets", headers=ml, json={"name": "neg"}).json()
    assert (
        client.post("/api/v1/training/runs", headers=ml, json={"dataset_version_id": dv["id"], "epochs": 0}).status_code
        == 422
    )
    assert (
        client.post(
            "/api/v1/training/runs", headers=tenant_a.auth(Role.agronomist), json={"dataset_version_id": dv["id"]}
        ).status_code
        == 403
    )
    r = client.post("/api/v1/training/runs", headers=ml, json={"dataset_version_id": dv["id"], "epochs": 3})
    assert r.status_code == 202, r.text
    run = r.json()
    assert run["status"] == "queued" and run["params"]["epochs"] == 3 and queued == [run["id"]]
    assert client.get(f"/api/v1/training/runs/{run['id']}", headers=ml).json()["status"] == "queued"
    assert client.get(f"/api/v1/training/runs/{run['id']}", headers=tenant_b.auth(Role.ml_engineer)).status_code == 404
    assert (
        client.post(
            "/api/v1/training/runs", headers=tenant_b.auth(Role.ml_engineer), json={"dataset_version_id": dv["id"]}
        ).status_code
        == 404
    )


def test_promotion_gate_override_and_rollback(client, tenant_a, sessions, models_registered):
    old_id = models_registered["pest"]
    with sessions.begin() as s:
        old = s.get(ModelVersion, old_id)
        cand = ModelVersion(
            task=ModelTask.pest,
            name="worse",
            onnx_key=old.onnx_key,
            sha256="f" * 64,
            family=old.family,
            classes=old.classes,
            input_size=old.input_size,
            stage=ModelStage.candidate,
            metrics={"map50": 0.10, "baseline": {"model_version_id": old_id, "map50": 0.30}},
        )
        s.add(cand)
        s.flush()
        cand_id = cand.id
    ml = tenant_a.auth(Role.ml_engineer)
    assert (
        client.post(f"/api/v1/models/{cand_id}/promote", headers=tenant_a.auth(Role.agronomist), json={}).status_code
        == 403
    )
    # a shared version: a cooperative's ML engineer cannot change it, even with a reason
    r = client.post(f"/api/v1/models/{cand_id}/promote", headers=ml, json={"reason": "x"})
    assert (r.status_code, r.json()["code"]) == (403, "shared_model_forbidden")
    with sessions.begin() as s:
        make_platform_ml(s, tenant_a.user_ids[Role.ml_engineer])
    r = client.post(f"/api/v1/models/{cand_id}/promote", headers=ml, json={})
    assert (r.status_code, r.json()["code"]) == (409, "gate_refused") and "0.100" in r.json()["detail"]
    r = client.post(f"/api/v1/models/{cand_id}/promote", headers=ml, json={"reason": "field test on plot A2"})
    assert r.status_code == 200 and r.json()["stage"] == "production"
    assert (
        r.json()["history"][-1] | {"gate": "overridden", "reason": "field test on plot A2"} == r.json()["history"][-1]
    )
    with sessions() as s:
        assert registry.production(s, ModelTask.pest).id == cand_id
    r = client.post(f"/api/v1/models/{old_id}/rollback", headers=ml, json={"reason": "misses planthoppers"})
    assert r.status_code == 200 and r.json()["stage"] == "production"
    with sessions() as s:
        assert registry.production(s, ModelTask.pest).id == old_id
        assert s.get(ModelVersion, cand_id).stage == ModelStage.archived
    r = client.post(f"/api/v1/models/{old_id}/rollback", headers=ml, json={})
    assert (r.status_code, r.json()["code"]) == (409, "rollback_refused")
    # back to the version that served by an override: the same written reason is needed again
    r = client.post(f"/api/v1/models/{cand_id}/rollback", headers=ml, json={})
    assert (r.status_code, r.json()["code"]) == (409, "rollback_refused") and "override" in r.json()["detail_en"]
    r = client.post(f"/api/v1/models/{cand_id}/rollback", headers=ml, json={"reason": "second field test"})
    assert r.status_code == 200
    with sessions() as s:
        log = registry.audit_log(s)
        assert [(e.action, e.by_user_id, e.reason) for e in log[:3]] == [
            ("rollback", tenant_a.user_ids[Role.ml_engineer], "second field test"),
            ("rollback", tenant_a.user_ids[Role.ml_engineer], "misses planthoppers"),
            ("promote", tenant_a.user_ids[Role.ml_engineer], "field test on plot A2"),
        ]


def test_shadow_mode_over_http(client, tenant_a, tenant_b, sessions, models_registered):
    with sessions.begin() as s:
        old = s.get(ModelVersion, models_registered["pest"])
        cand = ModelVersion(
            task=ModelTask.pest,
            name="shadow-me",
            onnx_key=old.onnx_key,
            sha256="e" * 64,
            family=old.family,
            classes=old.classes,
            input_size=old.input_size,
            stage=ModelStage.candidate,
        )
        s.add(cand)
        s.flush()
        cand_id = cand.id
        make_platform_ml(s, tenant_a.user_ids[Role.ml_engineer])
    ml = tenant_a.auth(Role.ml_engineer)
    assert client.post(f"/api/v1/models/{cand_id}/shadow", headers=tenant_a.auth(Role.agronomist)).status_code == 403
    assert client.post(f"/api/v1/models/{cand_id}/shadow", headers=tenant_b.auth(Role.ml_engineer)).status_code == 403
    r = client.post(f"/api/v1/models/{cand_id}/shadow", headers=ml)
    assert r.status_code == 200 and r.json()["stage"] == "shadow"
    r = client.post(f"/api/v1/models/{models_registered['pest']}/shadow", headers=ml)
    assert (r.status_code, r.json()["code"]) == (409, "shadow_refused")  # production cannot shadow itself
    rep = client.get(f"/api/v1/models/{cand_id}/shadow-report", headers=tenant_a.auth(Role.agronomist)).json()
    assert rep["captures"] == 0 and rep["model_version_id"] == cand_id
    assert client.delete(f"/api/v1/models/{cand_id}/shadow", headers=ml).json()["stage"] == "candidate"


def test_a_cooperatives_own_model_versions_are_invisible_to_other_cooperatives(
    client, tenant_a, tenant_b, sessions, models_registered
):
    with sessions.begin() as s:
        shipped = s.get(ModelVersion, models_registered["pest"])
        own = ModelVersion(
            cooperative_id=tenant_a.cooperative_id,
            task=ModelTask.pest,
            name="htx-a-private",
            onnx_key=shipped.onnx_key,
            sha256="f" * 64,
            classes=shipped.classes,
            input_size=shipped.input_size,
            stage=ModelStage.candidate,
            metrics={"reports": {"confusion_matrix": "reports/x.png"}},
        )
        s.add(own)
        s.flush()
        own_id = own.id
    ml_b = tenant_b.auth(Role.ml_engineer)
    for method, path, body in (
        ("post", f"/api/v1/models/{own_id}/promote", {"reason": "x"}),
        ("post", f"/api/v1/models/{own_id}/rollback", {"reason": "x"}),
        ("post", f"/api/v1/models/{own_id}/shadow", None),
        ("delete", f"/api/v1/models/{own_id}/shadow", None),
        ("get", f"/api/v1/models/{own_id}/shadow-report", None),
        ("get", f"/api/v1/models/{own_id}/reports/confusion_matrix", None),
    ):
        r = client.request(method.upper(), path, headers=ml_b, json=body, follow_redirects=False)
        assert r.status_code == 404, (path, r.status_code)
    with sessions() as s:
        assert s.get(ModelVersion, own_id).stage == ModelStage.candidate and not s.get(ModelVersion, own_id).history


def test_with_several_pest_families_a_dataset_names_its_crop(client, tenant_a, all_models_registered):
    """Rice photos must not be frozen with the vegetable model's classes: without a crop the freeze is refused with
    the crops that have a model of their own; with one it goes on to choose the reviewed captures (none here)."""
    ml = tenant_a.auth(Role.ml_engineer)
    r = client.post("/api/v1/datasets", headers=ml, json={"name": "mixed"})
    assert r.status_code == 422 and r.json()["code"] == "dataset_needs_crop" and "lúa" in r.json()["detail"]
    rice = client.post("/api/v1/datasets", headers=ml, json={"name": "rice", "crop": "lúa"})
    assert rice.status_code == 422 and rice.json()["code"] == "dataset_empty", rice.text
