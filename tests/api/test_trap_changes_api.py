"""The "thay bẫy" mark through the API: who may tap it, on which cameras, and a double tap is one change."""

from __future__ import annotations

import uuid

from cropwatch.core.enums import CameraKind, Role
from cropwatch.core.orm import Camera, TrapChange


def test_farmer_marks_a_trap_change_through_the_api(client, sessions, tenant_a, tenant_b):
    with sessions.begin() as s:
        s.get(Camera, tenant_a.camera_id).kind = CameraKind.sticky_trap
        garden = Camera(
            cooperative_id=tenant_a.cooperative_id,
            plot_id=tenant_a.plot_id,
            name="garden",
            kind=CameraKind.garden,
            token_hash=uuid.uuid4().hex,
        )
        s.add(garden)
        s.flush()
        garden_id = garden.id
    url = f"/api/v1/cameras/{tenant_a.camera_id}/trap-changes"
    first = client.post(url, headers=tenant_a.auth(Role.member))
    assert first.status_code == 201, first.text
    again = client.post(url, headers=tenant_a.auth(Role.member))  # a double tap is the same change
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert [m["id"] for m in client.get(url, headers=tenant_a.auth(Role.agronomist)).json()] == [first.json()["id"]]
    refused = client.post(f"/api/v1/cameras/{garden_id}/trap-changes", headers=tenant_a.auth(Role.member))
    assert refused.status_code == 422 and refused.json()["code"] == "not_a_trap" and refused.json()["detail"]
    assert client.post(url, headers=tenant_b.auth(Role.member)).status_code == 404
    assert client.post(url, headers=tenant_a.auth(Role.ml_engineer)).status_code == 403
    with sessions() as s:
        assert s.query(TrapChange).count() == 1
