"""Sessions, CSRF, language, headers and tenant isolation of the pages (HTTP level; see the browser tests for
the same in Chromium)."""

from __future__ import annotations

import pytest
from factories import make_tenant
from fastapi.testclient import TestClient

from api.app import create_app
from api.web.session import CSRF_COOKIE, SESSION_COOKIE
from cropwatch.core.enums import Role
from cropwatch.core.orm import Capture


@pytest.fixture
def app_client(settings, storage):
    with TestClient(
        create_app(settings, enqueue=lambda cid: None, enqueue_training=lambda rid: None), follow_redirects=False
    ) as c:
        yield c


@pytest.fixture
def tenants(sessions):
    with sessions.begin() as s:
        return make_tenant(s, "a"), make_tenant(s, "b")


def _login(c: TestClient, username: str, password: str):
    c.get("/login")
    return c.post("/login", data={"username": username, "password": password, "csrf_token": c.cookies.get(CSRF_COOKIE)})


def test_login_sets_a_hardened_session_cookie_and_lands_on_the_role_home(app_client, tenants):
    r = _login(app_client, "a-agronomist", "pw-a")
    assert r.status_code == 303 and r.headers["location"] == "/review"
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    page = app_client.get("/review")
    assert page.status_code == 200
    for header in ("content-security-policy", "x-frame-options", "x-content-type-options", "referrer-policy"):
        assert header in page.headers
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_wrong_password_is_refused_in_vietnamese(app_client, tenants):
    r = _login(app_client, "a-member", "wrong")
    assert r.status_code == 401 and "Sai tên đăng nhập hoặc mật khẩu" in r.text
    assert SESSION_COOKIE not in app_client.cookies


def test_pages_need_a_session_and_keep_where_the_user_wanted_to_go(app_client, tenants):
    r = app_client.get("/plots?x=1")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fplots%3Fx%3D1"
    # an open redirect through ?next= is refused
    r = app_client.post(
        "/login",
        data={
            "username": "a-member",
            "password": "pw-a",
            "next": "//evil.example/",
            "csrf_token": app_client.get("/login").cookies.get(CSRF_COOKIE) or app_client.cookies.get(CSRF_COOKIE),
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/alerts"


def test_unsafe_requests_need_the_csrf_token(app_client, tenants, sessions):
    _login(app_client, "a-agronomist", "pw-a")
    token = app_client.cookies.get(CSRF_COOKIE)
    body = {"threshold": "5", "class_name": "planthopper"}
    assert app_client.post("/rules", data=body).status_code == 403
    assert app_client.post("/rules", data=body | {"csrf_token": "forged"}).status_code == 403
    assert app_client.post("/rules", data=body | {"csrf_token": token}).status_code == 303
    assert app_client.post("/rules", data=body, headers={"X-CSRF-Token": token}).status_code == 303


def test_logout_revokes_the_session_server_side(app_client, tenants):
    _login(app_client, "a-member", "pw-a")
    stolen = app_client.cookies.get(SESSION_COOKIE)
    assert app_client.post("/logout", data={"csrf_token": app_client.cookies.get(CSRF_COOKIE)}).status_code == 303
    app_client.cookies.set(SESSION_COOKIE, stolen)
    assert app_client.get("/alerts").status_code == 303  # back to the login page: the token is revoked


def test_language_switch_is_remembered(app_client, tenants, sessions):
    _login(app_client, "a-member", "pw-a")
    assert "Cảnh báo hôm nay" in app_client.get("/alerts").text
    r = app_client.get("/lang/en?next=/alerts")
    assert r.status_code == 303 and r.headers["location"] == "/alerts"
    assert "No alerts. Your plots look fine!" in app_client.get("/alerts").text
    from cropwatch.core.orm import User

    with sessions() as s:
        assert s.query(User).filter_by(username="a-member").one().locale == "en"


def test_role_checks_match_the_api(app_client, tenants):
    _login(app_client, "a-member", "pw-a")
    for path in ("/review", "/pressure"):
        r = app_client.get(path)
        assert r.status_code == 403 and "không có quyền" in r.text, path


def test_other_cooperatives_pages_and_images_are_404(app_client, tenants, sessions, storage):
    a, b = tenants
    with sessions.begin() as s:
        cap = Capture(
            cooperative_id=a.cooperative_id,
            camera_id=a.camera_id,
            plot_id=a.plot_id,
            object_key="raw/a/x.jpg",
            sha256="0" * 64,
            size_bytes=3,
            status="done",
            width=10,
            height=10,
            captured_at=__import__("datetime").datetime.now(__import__("datetime").timezone.utc),
        )
        s.add(cap)
        s.flush()
        cap_id = cap.id
    storage.put_bytes("raw/a/x.jpg", b"\xff\xd8\xff", "image/jpeg")
    _login(app_client, "a-agronomist", "pw-a")
    assert app_client.get(f"/captures/{cap_id}/image").status_code == 200
    app_client.cookies.clear()
    _login(app_client, "b-agronomist", "pw-b")
    token = app_client.cookies.get(CSRF_COOKIE)
    for path in (
        f"/captures/{cap_id}",
        f"/captures/{cap_id}/image",
        f"/review/{cap_id}",
        f"/plots/{a.plot_id}",
        f"/pressure?plot_id={a.plot_id}",
    ):
        r = app_client.get(path)
        assert r.status_code == 404, path
        assert "x.jpg" not in r.text
    r = app_client.post(f"/review/{cap_id}/act", json={"action": "no_pest"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 404
    r = app_client.post(f"/captures/{cap_id}/flag", data={"csrf_token": token})
    assert r.status_code == 404
    with sessions() as s:
        assert s.get(Capture, cap_id).flagged_at is None and s.get(Capture, cap_id).reviewed_at is None
    assert Role.member  # roles enum importable for the matrix in issue 8


def test_ids_beyond_64_bits_answer_4xx_not_500(app_client, tenants):
    """Finding 11: page routes took any integer and the database driver failed on it."""
    huge = "99999999999999999999"
    for username, paths in (
        ("a-member", [f"/captures/{huge}", f"/plots/{huge}", f"/lots/labels.pdf?ids={huge}"]),
        ("a-agronomist", [f"/review/{huge}"]),
        ("a-ml_engineer", [f"/ml/runs/{huge}"]),
    ):
        app_client.cookies.clear()
        _login(app_client, username, "pw-a")
        for path in paths:
            r = app_client.get(path)
            assert 400 <= r.status_code < 500, (path, r.status_code)
