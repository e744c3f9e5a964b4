"""Password guessing and runaway cameras are slowed down (limits kept in the real Redis)."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from cropwatch.domain import Role


@pytest.fixture(autouse=True)
def clean_counters(client):
    """These tests fill the shared counters on purpose: clear them so later tests start from zero."""
    def clear():
        r = client.app.state.limiter.redis
        keys = list(r.scan_iter(match="cropwatch:rl:*"))
        if keys:
            r.delete(*keys)

    clear()
    yield
    clear()


def test_repeated_failed_sign_ins_are_refused_for_a_while_then_the_owner_gets_in(client, tenant_a):
    limit = client.app.state.settings.login_failures_per_user
    for _ in range(limit):
        r = client.post("/api/v1/auth/token", data={"username": "a-member", "password": "guess"})
        assert r.status_code == 401
    r = client.post("/api/v1/auth/token", data={"username": "a-member", "password": "pw-a"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert "thử lại sau" in r.json()["detail"]
    # another user from the same address is not locked out by someone guessing a-member's password
    assert client.post("/api/v1/auth/token", data={"username": "a-agronomist", "password": "pw-a"}).status_code == 200
    # the page's sign-in form shares the counter
    client.get("/login")
    page = client.post("/login", data={"username": "a-member", "password": "pw-a",
                                       "csrf_token": client.cookies.get("cw_csrf")}, follow_redirects=False)
    assert page.status_code == 429 and "thử lại sau" in page.text


def test_a_camera_sending_too_many_requests_gets_429_with_retry_after(client, tenant_a):
    client.app.state.settings = client.app.state.settings.model_copy(update={"camera_requests_per_minute": 5})
    codes = []
    for i in range(7):
        data = f"frame {i}".encode()
        codes.append(client.post("/api/v1/ingest/slots", headers=tenant_a.camera_auth, json={
            "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
            "captured_at": dt.datetime.now(dt.timezone.utc).isoformat()}).status_code)
    assert codes[:5] == [201] * 5 or all(c in (200, 201) for c in codes[:5])
    assert codes[5:] == [429, 429]
    # users are not affected
    assert client.get("/api/v1/plots", headers=tenant_a.auth(Role.member)).status_code == 200
