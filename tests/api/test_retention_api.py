"""The photo retention policy through the API: the cooperative admin sets it and sees what it frees; a removed
photo says so, and its capture can no longer be reviewed."""

from __future__ import annotations

import datetime as dt

import pytest
from helpers import bare_model_version, processed_photos

from cropwatch.captures import retention
from cropwatch.core.enums import Role
from cropwatch.core.orm import Capture, Cooperative
from cropwatch.core.timeutil import utcnow

OLD = utcnow() - dt.timedelta(days=40)


@pytest.fixture
def model_id(sessions):
    return bare_model_version(sessions)


def test_the_photo_of_a_removed_capture_says_so(client, sessions, storage, settings, tenant_a, model_id):
    cid = processed_photos(sessions, storage, settings, tenant_a, model_id, 2, when=OLD)[1]
    assert retention.apply_policy(sessions, storage, cooperative_id=tenant_a.cooperative_id).removed == 1
    got = client.get(f"/api/v1/captures/{cid}", headers=tenant_a.auth(Role.agronomist))
    assert got.status_code == 200 and got.json()["image_url"] is None and got.json()["purged_at"]
    r = client.post(
        f"/api/v1/captures/{cid}/reviews", headers=tenant_a.auth(Role.agronomist), json={"action": "no_pest"}
    )
    assert r.status_code == 410 and "chính sách lưu trữ" in r.json()["detail"]
    with sessions() as s:
        assert s.get(Capture, cid).reviewed_at is None


def test_the_admin_sets_the_policy_and_sees_what_it_frees(client, sessions, storage, settings, tenant_a, model_id):
    processed_photos(sessions, storage, settings, tenant_a, model_id, 3, when=OLD)
    admin = tenant_a.auth(Role.coop_admin)
    got = client.get("/api/v1/retention", headers=admin)
    assert got.status_code == 200, got.text
    cams = {c["camera_id"]: c for c in got.json()["cameras"]}
    assert got.json()["days"] == 30
    assert (cams[tenant_a.camera_id]["photos"], cams[tenant_a.camera_id]["to_free_photos"]) == (3, 2)
    assert client.put("/api/v1/retention", headers=admin, json={"days": 60}).json()["cameras"][0]["to_free_photos"] == 0
    bad = client.put("/api/v1/retention", headers=admin, json={"days": 1})
    assert bad.status_code == 422 and "từ 7 đến 3650" in bad.json()["detail"]
    assert client.put("/api/v1/retention", headers=admin, json={"days": None}).json()["days"] is None
    for role in (Role.member, Role.agronomist, Role.ml_engineer):
        assert client.get("/api/v1/retention", headers=tenant_a.auth(role)).status_code == 403
        assert client.put("/api/v1/retention", headers=tenant_a.auth(role), json={"days": 7}).status_code == 403
    with sessions() as s:
        assert s.get(Cooperative, tenant_a.cooperative_id).photo_retention_days is None
