"""Findings 9 and 10 (and issue 14's rights): a cooperative admin cannot demote, lock or reactivate the union
admin or an account shared with another cooperative; farmers and the union admin cannot resolve alerts."""

from __future__ import annotations

import datetime as dt

import pytest
from factories import make_tenant
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.web.session import CSRF_COOKIE
from cropwatch.core.enums import AlertLevel, AlertStatus, Role
from cropwatch.core.orm import Alert, ApiToken, Membership, User
from cropwatch.core.security import hash_password, new_token, token_hash
from cropwatch.core.timeutil import local_day, utcnow


@pytest.fixture
def world(sessions):
    with sessions.begin() as s:
        a, b = make_tenant(s, "ra"), make_tenant(s, "rb")
        union = User(username="ra-union", full_name="union", password_hash=hash_password("pw-ra"))
        shared = User(username="shared-agro", full_name="shared", password_hash=hash_password("pw-ra"), is_active=False)
        s.add_all([union, shared])
        s.flush()
        m_union = Membership(user_id=union.id, cooperative_id=a.cooperative_id, role=Role.union_admin)
        m_shared = Membership(user_id=shared.id, cooperative_id=a.cooperative_id, role=Role.agronomist)
        s.add_all(
            [m_union, m_shared, Membership(user_id=shared.id, cooperative_id=b.cooperative_id, role=Role.agronomist)]
        )
        tok = new_token("cw")
        s.add(
            ApiToken(
                token_hash=token_hash(tok),
                user_id=union.id,
                cooperative_id=a.cooperative_id,
                expires_at=utcnow() + dt.timedelta(hours=1),
            )
        )
        s.flush()
        alert = Alert(
            cooperative_id=a.cooperative_id,
            plot_id=a.plot_id,
            class_name="planthopper",
            level=AlertLevel.warning,
            status=AlertStatus.open,
            count=5,
            threshold=3,
            local_day=local_day(utcnow()),
            message_vi="x",
            message_en="x",
        )
        s.add(alert)
        s.flush()
        return {
            "a": a,
            "union_token": tok,
            "m_union": m_union.id,
            "m_shared": m_shared.id,
            "union_id": union.id,
            "shared_id": shared.id,
            "alert": alert.id,
        }


def test_a_cooperative_admin_cannot_touch_the_union_admin_or_a_shared_account(settings, storage, sessions, world):
    with TestClient(
        create_app(settings, enqueue=lambda _id: None, enqueue_training=lambda _id: None), follow_redirects=False
    ) as c:
        c.get("/login")
        c.post(
            "/login", data={"username": "ra-coop_admin", "password": "pw-ra", "csrf_token": c.cookies.get(CSRF_COOKIE)}
        )
        csrf = {"csrf_token": c.cookies.get(CSRF_COOKIE)}
        for path, data, words in (
            (f"/admin/members/{world['m_union']}/role", {"role": "member"}, "liên minh"),
            (f"/admin/members/{world['m_union']}/deactivate", {}, "liên minh"),
            (f"/admin/members/{world['m_shared']}/reactivate", {}, "hợp tác xã khác"),
            (f"/admin/members/{world['m_shared']}/role", {"role": "member"}, "hợp tác xã khác"),
        ):
            r = c.post(path, data=data | csrf)
            assert r.status_code == 400 and words in r.text, (path, r.status_code)
    with sessions() as s:
        assert s.get(User, world["union_id"]).is_active is True
        assert s.get(User, world["shared_id"]).is_active is False, "still locked: B did not agree"
        roles = {
            m.role
            for m in s.scalars(
                select(Membership).where(Membership.user_id.in_([world["union_id"], world["shared_id"]]))
            )
        }
        assert roles == {Role.union_admin, Role.agronomist}


def test_farmers_and_the_union_admin_cannot_resolve_alerts(settings, storage, sessions, world):
    a = world["a"]
    with TestClient(create_app(settings, enqueue=lambda _id: None, enqueue_training=lambda _id: None)) as c:
        for headers in (a.auth(Role.member), {"Authorization": f"Bearer {world['union_token']}"}):
            r = c.post(f"/api/v1/alerts/{world['alert']}/resolve", headers=headers, json={"reason": "done"})
            assert r.status_code == 403, r.text
        r = c.post(
            f"/api/v1/alerts/{world['alert']}/resolve", headers=a.auth(Role.agronomist), json={"reason": "sprayed"}
        )
        assert r.status_code == 200 and r.json()["status"] == "resolved"


def test_the_union_admin_reads_aggregates_not_raw_records(settings, storage, sessions, world):
    with TestClient(create_app(settings, enqueue=lambda _id: None, enqueue_training=lambda _id: None)) as c:
        union = {"Authorization": f"Bearer {world['union_token']}"}
        plot = world["a"].plot_id
        for path in (
            "/api/v1/captures",
            "/api/v1/diary",
            f"/api/v1/diary/export?plot_id={plot}&since=2026-01-01&until=2026-12-31&format=csv",
        ):
            r = c.get(path, headers=union)
            assert r.status_code == 403 and r.json()["code"] == "union_aggregates_only", path
        assert c.get("/api/v1/captures", headers=world["a"].auth(Role.member)).status_code == 200
