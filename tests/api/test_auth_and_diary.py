from __future__ import annotations

import pytest
from helpers import rice_photos

from cropwatch.core.enums import Role


def test_login_gives_a_token_that_works_until_logout(client, tenant_a):
    bad = client.post("/api/v1/auth/token", data={"username": "a-member", "password": "wrong"})
    assert bad.status_code == 401 and bad.json()["detail"] == "Sai tên đăng nhập hoặc mật khẩu."
    ok = client.post("/api/v1/auth/token", data={"username": "a-member", "password": "pw-a"})
    assert ok.status_code == 200 and ok.json()["role"] == "member"
    auth = {"Authorization": f"Bearer {ok.json()['access_token']}"}
    me = client.get("/api/v1/auth/me", headers=auth).json()
    assert me["username"] == "a-member" and me["cooperative_id"] == tenant_a.cooperative_id
    assert client.post("/api/v1/auth/logout", headers=auth).status_code == 204
    assert client.get("/api/v1/auth/me", headers=auth).status_code == 401


def test_farmer_writes_a_diary_entry_with_a_photo_and_it_keeps_revisions(client, tenant_a, storage):
    photo = rice_photos(1)[0].read_bytes()
    resp = client.post(
        "/api/v1/diary",
        headers=tenant_a.auth(Role.member),
        data={
            "plot_id": tenant_a.plot_id,
            "type": "pest_control",
            "status": "pending",
            "title": "Phun thuốc trừ rầy",
            "product_name": "Chess 50WG",
            "registration_no": "VN-1234",
            "dose": "15 g/bình 16 l",
            "phi_days": 7,
            "treated_area_m2": 5000,
            "occurred_at": "2026-11-20T07:00:00+07:00",
        },
        files=[("photos", ("leaf.jpg", photo, "image/jpeg"))],
    )
    assert resp.status_code == 201, resp.text
    entry = resp.json()
    assert entry["photo_keys"] and entry["phi_days"] == 7 and entry["source"] == "manual"
    assert storage.get_bytes(entry["photo_keys"][0]) == photo
    done = client.post(f"/api/v1/diary/{entry['id']}/done", headers=tenant_a.auth(Role.agronomist))
    assert done.json()["status"] == "done"
    detail = client.get(f"/api/v1/diary/{entry['id']}", headers=tenant_a.auth()).json()
    assert [r["snapshot"]["status"] for r in detail["revisions"]] == ["pending", "done"]
    assert len(detail["photo_urls"]) == 1
    listed = client.get("/api/v1/diary", headers=tenant_a.auth(), params={"plot_id": tenant_a.plot_id}).json()
    assert [e["id"] for e in listed] == [entry["id"]]


def test_diary_photo_that_is_not_an_image_is_refused(client, tenant_a):
    resp = client.post(
        "/api/v1/diary",
        headers=tenant_a.auth(),
        data={"plot_id": tenant_a.plot_id, "type": "other"},
        files=[("photos", ("x.jpg", b"<html></html>", "image/jpeg"))],
    )
    assert resp.status_code == 415


@pytest.mark.parametrize("role,status", [(Role.member, 403), (Role.ml_engineer, 403), (Role.coop_admin, 201)])
def test_only_cooperative_admins_register_cameras(client, tenant_a, role, status):
    resp = client.post(
        "/api/v1/cameras", headers=tenant_a.auth(role), json={"plot_id": tenant_a.plot_id, "name": "new"}
    )
    assert resp.status_code == status
    if status == 201:
        assert resp.json()["device_token"].startswith("cam_")
