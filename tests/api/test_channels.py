"""Notification channels are managed per cooperative; secrets are write-only; the delivery log is per alert."""

from __future__ import annotations

from cropwatch.core.enums import Role


def test_channels_are_validated_masked_and_kept_per_cooperative(client, tenant_a, tenant_b):
    admin = tenant_a.auth(Role.coop_admin)
    r = client.post("/api/v1/channels", headers=admin, json={"kind": "webhook", "config": {"url": "ftp://x"}})
    assert r.status_code == 422
    r = client.post("/api/v1/channels", headers=admin, json={"kind": "pigeon", "config": {}})
    assert r.status_code == 422
    assert (
        client.post("/api/v1/channels", headers=tenant_a.auth(Role.member), json={"kind": "in_app"}).status_code == 403
    )
    r = client.post(
        "/api/v1/channels",
        headers=admin,
        json={
            "kind": "webhook",
            "name": "Máy chủ HTX",
            "config": {"url": "https://htx.example/hook", "secret": "k"},
            "min_level": "warning",
        },
    )
    assert r.status_code == 201 and r.json()["config"]["secret"] == "***"
    cid = r.json()["id"]
    assert [c["id"] for c in client.get("/api/v1/channels", headers=admin).json()] == [cid]
    assert client.get("/api/v1/channels", headers=tenant_b.auth(Role.coop_admin)).json() == []
    assert client.delete(f"/api/v1/channels/{cid}", headers=tenant_b.auth(Role.coop_admin)).status_code == 404
    assert client.delete(f"/api/v1/channels/{cid}", headers=admin).json()["enabled"] is False


def test_alert_rules_are_edited_by_agronomists_of_their_own_cooperative(client, tenant_a, tenant_b):
    ag = tenant_a.auth(Role.agronomist)
    r = client.post(
        "/api/v1/alert-rules",
        headers=ag,
        json={"class_name": "planthopper", "threshold": 5, "level": "danger", "crop": "lúa"},
    )
    assert r.status_code == 201 and r.json()["label"].startswith("planthopper ≥ 5 con/ngày")
    rid = r.json()["id"]
    assert (
        client.post(
            "/api/v1/alert-rules", headers=tenant_a.auth(Role.member), json={"class_name": "x", "threshold": 1}
        ).status_code
        == 403
    )
    assert client.post("/api/v1/alert-rules", headers=ag, json={"class_name": "x", "threshold": 0}).status_code == 422
    r = client.patch(f"/api/v1/alert-rules/{rid}", headers=ag, json={"threshold": 8, "enabled": False})
    assert (r.json()["threshold"], r.json()["enabled"]) == (8, False)
    assert r.json()["label"].startswith("planthopper ≥ 8 con/ngày")  # the label follows the rule
    assert rid in [x["id"] for x in client.get("/api/v1/alert-rules", headers=tenant_a.auth(Role.member)).json()]
    assert (
        client.patch(
            f"/api/v1/alert-rules/{rid}", headers=tenant_b.auth(Role.agronomist), json={"threshold": 1}
        ).status_code
        == 404
    )
    assert rid not in [
        x["id"] for x in client.get("/api/v1/alert-rules", headers=tenant_b.auth(Role.agronomist)).json()
    ]
