"""The server side of the field agent protocol (docs/edge-protocol.md): resumable multipart uploads, edge
detections, heartbeat, configuration and model download — against real SeaweedFS and the database."""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import httpx
import numpy as np
import pytest
from factories import add_rule
from helpers import planthopper_photo
from PIL import Image
from sqlalchemy import select

from cropwatch.core.enums import CaptureStatus, DetectionSource, Role
from cropwatch.core.orm import Alert, Camera, Capture, Detection, ModelVersion
from inference.detections import DetectionRecord

PHOTO = planthopper_photo()


@pytest.fixture(scope="module")
def big_jpeg() -> bytes:
    """A real JPEG of about 7 MB: two parts of 5 MiB."""
    rng = np.random.default_rng(7)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (2400, 2600, 3), dtype=np.uint8)).save(buf, "JPEG", quality=92)
    data = buf.getvalue()
    assert 5 * 1024 * 1024 < len(data) < 10 * 1024 * 1024
    return data


def _slot(client, tenant, data: bytes, multipart: bool = True):
    return client.post(
        "/api/v1/ingest/slots",
        headers=tenant.camera_auth,
        json={
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "multipart": multipart,
            "captured_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        },
    )


def test_multipart_upload_resumes_after_a_dropped_link(client, tenant_a, storage, sessions, enqueued, big_jpeg):
    first = _slot(client, tenant_a, big_jpeg)
    assert first.status_code == 201, first.text
    mp = first.json()["multipart"]
    assert first.json()["upload_url"] is None and len(mp["parts"]) == 2
    size = mp["part_size"]
    # part 1 arrives, then the link drops before part 2
    assert httpx.put(mp["parts"][0]["url"], content=big_jpeg[:size]).status_code == 200
    early = client.post(f"/api/v1/ingest/captures/{first.json()['capture_id']}/confirm", headers=tenant_a.camera_auth)
    assert early.status_code == 409 and early.json()["code"] == "upload_missing"
    # the agent comes back (or restarts) and asks again: same capture, same upload, part 1 already done
    again = _slot(client, tenant_a, big_jpeg)
    assert again.status_code == 200
    assert again.json()["capture_id"] == first.json()["capture_id"]
    assert again.json()["multipart"]["upload_id"] == mp["upload_id"]
    assert [p["done"] for p in again.json()["multipart"]["parts"]] == [True, False]
    part2 = again.json()["multipart"]["parts"][1]["url"]
    assert httpx.put(part2, content=big_jpeg[size:]).status_code == 200
    done = client.post(f"/api/v1/ingest/captures/{first.json()['capture_id']}/confirm", headers=tenant_a.camera_auth)
    assert done.status_code == 200 and done.json()["status"] == "stored"
    with sessions() as s:
        cap = s.get(Capture, first.json()["capture_id"])
        assert cap.multipart_upload_id is None and cap.width == 2600
        assert hashlib.sha256(storage.get_bytes(cap.object_key)).hexdigest() == hashlib.sha256(big_jpeg).hexdigest()
        assert (
            s.scalar(
                select(Capture)
                .where(Capture.sha256 == cap.sha256)
                .with_only_columns(__import__("sqlalchemy").func.count())
            )
            == 1
        )
    assert enqueued == [first.json()["capture_id"]]
    # and once stored, asking again is a duplicate: nothing to upload
    assert _slot(client, tenant_a, big_jpeg).json()["duplicate"] is True


def test_small_frames_get_a_single_url_even_when_parts_are_asked(client, tenant_a):
    data = PHOTO.read_bytes()
    r = _slot(client, tenant_a, data)
    assert r.json()["multipart"] is None and r.json()["upload_url"]


@pytest.fixture
def pest_int8(sessions, models_registered) -> tuple[int, str]:
    with sessions() as s:
        mv = s.get(ModelVersion, models_registered["pest"])
        return mv.id, mv.variants["int8"]["sha256"]


def _upload_single(client, tenant, data: bytes) -> int:
    slot = _slot(client, tenant, data, multipart=False).json()
    assert httpx.put(slot["upload_url"], content=data).status_code == 200
    return slot["capture_id"]


def test_edge_detections_are_stored_and_raise_alerts_without_the_server_worker(
    client, tenant_a, sessions, enqueued, pest_int8
):
    with sessions.begin() as s:
        add_rule(s, tenant_a.cooperative_id, "planthopper", threshold=2)
    cap_id = _upload_single(client, tenant_a, PHOTO.read_bytes())
    body = {
        "edge": {
            "model_sha256": pest_int8[1],
            "duration_ms": 48.0,
            "detections": [
                {"class_name": "planthopper", "score": 0.71, "box": [10, 10, 60, 70]},
                {"class_name": "planthopper", "score": 0.55, "box": [100, 100, 9000, 140]},  # clipped to the image
            ],
        }
    }
    r = client.post(f"/api/v1/ingest/captures/{cap_id}/confirm", headers=tenant_a.camera_auth, json=body)
    assert r.status_code == 200 and r.json()["status"] == "done"
    assert enqueued == []  # the agent did the work
    # confirming twice changes nothing
    assert (
        client.post(f"/api/v1/ingest/captures/{cap_id}/confirm", headers=tenant_a.camera_auth, json=body).status_code
        == 200
    )
    with sessions() as s:
        dets = s.scalars(select(Detection).where(Detection.capture_id == cap_id)).all()
        assert len(dets) == 2 and {d.source for d in dets} == {DetectionSource.edge}
        assert {d.model_version_id for d in dets} == {pest_int8[0]}
        cap = s.get(Capture, cap_id)
        assert max(d.x2 for d in dets) == cap.width
        alert = s.scalars(select(Alert).where(Alert.cooperative_id == tenant_a.cooperative_id)).one()
        assert alert.count == 2 and alert.evidence_capture_id == cap_id


def test_edge_detections_in_the_record_form_keep_the_models_class_ids(client, tenant_a, sessions, enqueued, pest_int8):
    with sessions() as s:
        ids = {name: int(k) for k, name in s.get(ModelVersion, pest_int8[0]).classes.items()}
    hopper, bug = ids["planthopper"], ids["rice bug"]
    cap_id = _upload_single(client, tenant_a, PHOTO.read_bytes())
    wrong = {"class_id": bug, "class_name": "planthopper", "score": 0.8, "xyxy": [10, 10, 60, 70]}
    edge = {"model_sha256": pest_int8[1], "duration_ms": 30.0, "detections": [wrong]}
    r = client.post(f"/api/v1/ingest/captures/{cap_id}/confirm", headers=tenant_a.camera_auth, json={"edge": edge})
    assert r.status_code == 422 and r.json()["code"] == "edge_bad_detection", "an id that contradicts its name"
    with sessions() as s:
        assert s.get(Capture, cap_id).status == CaptureStatus.pending, "a refusal loses nothing"
    edge["detections"] = [
        {"class_id": hopper, "class_name": "planthopper", "score": 0.8, "xyxy": [10, 10, 60, 70]},
        {"class_name": "rice bug", "score": 0.6, "box": [80, 80, 120, 130]},  # an agent from before the record
    ]
    r = client.post(f"/api/v1/ingest/captures/{cap_id}/confirm", headers=tenant_a.camera_auth, json={"edge": edge})
    assert r.status_code == 200 and r.json()["status"] == "done"
    with sessions() as s:
        stored = {d.record for d in s.scalars(select(Detection).where(Detection.capture_id == cap_id))}
    assert stored == {
        DetectionRecord(hopper, "planthopper", 0.8, (10, 10, 60, 70)),
        DetectionRecord(bug, "rice bug", 0.6, (80, 80, 120, 130)),
    }


def test_edge_detections_of_an_unknown_model_are_refused_and_lose_nothing(
    client, tenant_a, sessions, enqueued, models_registered
):
    cap_id = _upload_single(client, tenant_a, PHOTO.read_bytes())
    r = client.post(
        f"/api/v1/ingest/captures/{cap_id}/confirm",
        headers=tenant_a.camera_auth,
        json={"edge": {"model_sha256": "ab" * 32, "detections": []}},
    )
    assert r.status_code == 422 and r.json()["code"] == "edge_model_unknown"
    with sessions() as s:
        assert s.get(Capture, cap_id).status == CaptureStatus.pending  # the agent can confirm again
    assert client.post(f"/api/v1/ingest/captures/{cap_id}/confirm", headers=tenant_a.camera_auth).status_code == 200
    assert enqueued == [cap_id]


def test_heartbeat_is_kept_and_answers_the_config_with_the_model_to_download(client, tenant_a, sessions, pest_int8):
    r = client.post(
        "/api/v1/cameras/me/heartbeat",
        headers=tenant_a.camera_auth,
        json={
            "agent_version": "0.2.0",
            "disk_free_bytes": 10_000_000,
            "disk_total_bytes": 32_000_000_000,
            "temperature_c": 55.5,
            "battery_pct": 81,
            "backlog": 7,
            "evicted_total": 3,
            "last_error": "dns timeout",
        },
    )
    assert r.status_code == 200, r.text
    cfg = r.json()
    assert cfg["camera_id"] == tenant_a.camera_id and cfg["mode"] == "all" and cfg["edge_detection"] is False
    assert cfg["model"]["sha256"] == pest_int8[1] and cfg["model"]["variant"] == "int8"
    with sessions() as s:
        cam = s.get(Camera, tenant_a.camera_id)
        assert cam.agent_status["backlog"] == 7 and cam.agent_status["battery_pct"] == 81
        assert cam.agent_reported_at is not None
    model = client.get("/api/v1/cameras/me/model", headers=tenant_a.camera_auth)
    assert model.status_code == 200 and model.headers["x-model-sha256"] == pest_int8[1]
    assert hashlib.sha256(model.content).hexdigest() == pest_int8[1]
    assert client.get("/api/v1/cameras/me/config", headers={"Authorization": "Bearer cam_nope"}).status_code == 401


def test_admin_sets_the_agent_mode_and_only_their_own_cameras(client, tenant_a, tenant_b, models_registered):
    url = f"/api/v1/cameras/{tenant_a.camera_id}/agent-config"
    assert client.patch(url, headers=tenant_a.auth(Role.member), json={"edge_detection": True}).status_code == 403
    assert client.patch(url, headers=tenant_b.auth(Role.coop_admin), json={"edge_detection": True}).status_code == 404
    r = client.patch(url, headers=tenant_a.auth(Role.coop_admin), json={"mode": "detections"})
    assert r.status_code == 422 and r.json()["code"] == "agent_mode_needs_edge"
    r = client.patch(
        url,
        headers=tenant_a.auth(Role.coop_admin),
        json={"mode": "detections", "edge_detection": True, "max_side": 1280, "max_upload_kbps": 256},
    )
    assert r.status_code == 200
    cfg = client.get("/api/v1/cameras/me/config", headers=tenant_a.camera_auth).json()
    assert (cfg["mode"], cfg["edge_detection"], cfg["max_side"], cfg["max_upload_kbps"]) == (
        "detections",
        True,
        1280,
        256,
    )
