"""A user of cooperative B can neither read nor change anything of cooperative A."""

from __future__ import annotations

import datetime as dt

import pytest
from helpers import presigned_upload, rice_photos

from cropwatch.core.enums import AlertLevel, DiarySource, DiaryStatus, DiaryType, Role
from cropwatch.core.orm import Alert, DiaryEntry
from cropwatch.core.timeutil import utcnow

ROLES = [Role.member, Role.agronomist, Role.ml_engineer, Role.coop_admin]


@pytest.fixture
def a_objects(client, tenant_a, sessions):
    """One capture, alert and diary entry of cooperative A."""
    cap = presigned_upload(client, tenant_a.camera_auth, rice_photos(1)[0].read_bytes()).json()
    with sessions.begin() as s:
        alert = Alert(
            cooperative_id=tenant_a.cooperative_id,
            plot_id=tenant_a.plot_id,
            class_name="planthopper",
            level=AlertLevel.warning,
            count=5,
            threshold=3,
            local_day=dt.date(2026, 11, 20),
            message_vi="rầy nâu",
            message_en="planthopper",
            evidence_capture_id=cap["id"],
        )
        entry = DiaryEntry(
            cooperative_id=tenant_a.cooperative_id,
            plot_id=tenant_a.plot_id,
            occurred_at=utcnow(),
            type=DiaryType.observation,
            status=DiaryStatus.pending,
            source=DiarySource.automatic,
            capture_id=cap["id"],
            title="quan sát",
        )
        s.add_all([alert, entry])
        s.flush()
        return {
            "capture": cap["id"],
            "alert": alert.id,
            "diary": entry.id,
            "plot": tenant_a.plot_id,
            "camera": tenant_a.camera_id,
        }


READS = [
    ("/api/v1/captures/{capture}", "capture"),
    ("/api/v1/alerts/{alert}", "alert"),
    ("/api/v1/diary/{diary}", "diary"),
    ("/api/v1/plots/{plot}", "plot"),
    ("/api/v1/cameras/{camera}", "camera"),
]


@pytest.mark.parametrize("role", ROLES, ids=[r.value for r in ROLES])
def test_other_cooperative_gets_404_on_every_object(client, tenant_a, tenant_b, a_objects, role):
    for path, _ in READS:
        url = path.format(**a_objects)
        assert client.get(url, headers=tenant_a.auth(Role.coop_admin)).status_code == 200, url
        resp = client.get(url, headers=tenant_b.auth(role))
        assert resp.status_code == 404, (url, resp.text)
        assert resp.json()["code"] == "not_found"


@pytest.mark.parametrize("role", ROLES, ids=[r.value for r in ROLES])
def test_other_cooperative_lists_show_nothing_of_a(client, tenant_b, a_objects, role):
    for path in ("/api/v1/captures", "/api/v1/alerts", "/api/v1/diary", "/api/v1/plots", "/api/v1/cameras"):
        items = client.get(path, headers=tenant_b.auth(role)).json()
        ids = {i["id"] for i in items}
        assert a_objects["capture"] not in ids or path != "/api/v1/captures"
        assert all(i.get("plot_id", i["id"]) != a_objects["plot"] for i in items), path


@pytest.mark.parametrize("role", ROLES, ids=[r.value for r in ROLES])
def test_other_cooperative_cannot_change_a(client, tenant_a, tenant_b, a_objects, sessions, role):
    auth = tenant_b.auth(role)
    assert client.post(f"/api/v1/alerts/{a_objects['alert']}/acknowledge", headers=auth).status_code == 404
    assert (
        client.post(f"/api/v1/alerts/{a_objects['alert']}/resolve", headers=auth, json={"reason": "x"}).status_code
        == 404
    )
    assert client.post(f"/api/v1/diary/{a_objects['diary']}/done", headers=auth).status_code in (403, 404)
    assert client.post(
        "/api/v1/diary", headers=auth, data={"plot_id": a_objects["plot"], "type": "irrigation"}
    ).status_code in (403, 404)
    assert client.post(f"/api/v1/cameras/{a_objects['camera']}/rotate-token", headers=auth).status_code in (403, 404)
    assert client.post(
        "/api/v1/cameras", headers=auth, json={"plot_id": a_objects["plot"], "name": "x"}
    ).status_code in (403, 404)
    with sessions() as s:
        assert s.get(Alert, a_objects["alert"]).status.value == "open"
        assert s.get(DiaryEntry, a_objects["diary"]).status.value == "pending"
    from sqlalchemy import func, select

    from cropwatch.core.orm import Camera
    from cropwatch.core.orm import DiaryEntry as D

    with sessions() as s:
        assert s.scalar(select(func.count(D.id)).where(D.plot_id == a_objects["plot"])) == 1
        assert s.scalar(select(func.count(Camera.id)).where(Camera.plot_id == a_objects["plot"])) == 1


def test_camera_of_b_cannot_confirm_a_capture_of_a(client, tenant_a, tenant_b, sessions):
    import hashlib

    data = rice_photos(2)[1].read_bytes()
    slot = client.post(
        "/api/v1/ingest/slots",
        headers=tenant_a.camera_auth,
        json={"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "captured_at": "2026-11-20T00:00:00Z"},
    ).json()
    resp = client.post(f"/api/v1/ingest/captures/{slot['capture_id']}/confirm", headers=tenant_b.camera_auth)
    assert resp.status_code == 404


def test_unauthenticated_requests_are_401(client, a_objects):
    for path, _ in READS:
        assert client.get(path.format(**a_objects)).status_code == 401
