"""Password guessing and runaway cameras are slowed down (limits kept in the real Redis)."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from cropwatch.core.enums import Role


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
    page = client.post(
        "/login",
        data={"username": "a-member", "password": "pw-a", "csrf_token": client.cookies.get("cw_csrf")},
        follow_redirects=False,
    )
    assert page.status_code == 429 and "thử lại sau" in page.text


def test_a_camera_sending_too_many_requests_gets_429_with_retry_after(client, tenant_a):
    client.app.state.settings = client.app.state.settings.model_copy(update={"camera_requests_per_minute": 5})
    codes = []
    for i in range(7):
        data = f"frame {i}".encode()
        codes.append(
            client.post(
                "/api/v1/ingest/slots",
                headers=tenant_a.camera_auth,
                json={
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "size": len(data),
                    "captured_at": dt.datetime.now(dt.timezone.utc).isoformat(),
                },
            ).status_code
        )
    assert codes[:5] == [201] * 5 or all(c in (200, 201) for c in codes[:5])
    assert codes[5:] == [429, 429]
    # users are not affected
    assert client.get("/api/v1/plots", headers=tenant_a.auth(Role.member)).status_code == 200


def test_parallel_guesses_meet_the_limit(client, tenant_a):
    """Finding 6: 40 wrong passwords at once all answered 401 (check, then count). Counting first: at most the
    limit are even verified, the rest are 429, and the right password is then refused too."""
    from concurrent.futures import ThreadPoolExecutor

    limit = client.app.state.settings.login_failures_per_user

    def guess(_):
        return client.post("/api/v1/auth/token", data={"username": "a-member", "password": "guess"}).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(guess, range(40)))
    assert codes.count(401) <= limit and codes.count(429) >= 40 - limit
    assert client.post("/api/v1/auth/token", data={"username": "a-member", "password": "pw-a"}).status_code == 429


def test_a_forged_forwarded_for_does_not_get_fresh_attempts(settings, sessions, storage, redis_url):
    """Finding 6: behind uvicorn as ``cropwatch api`` runs it, X-Forwarded-For from loopback is not believed, so a
    fresh header per guess does not reset the count."""
    import httpx
    from factories import make_tenant
    from helpers import serve_in_thread

    from api.app import create_app
    from cropwatch.cli import uvicorn_proxy_options

    with sessions.begin() as s:
        make_tenant(s, "xff")
    app = create_app(settings, enqueue=lambda _id: None, enqueue_training=lambda _id: None)
    r = app.state.limiter.redis
    for key in r.scan_iter(match="cropwatch:rl:*"):
        r.delete(key)
    with serve_in_thread(app, **uvicorn_proxy_options(settings)) as port:
        codes = [
            httpx.post(
                f"http://127.0.0.1:{port}/api/v1/auth/token",
                headers={"X-Forwarded-For": f"10.9.0.{i}"},
                data={"username": "xff-member", "password": "guess"},
            ).status_code
            for i in range(12)
        ]
        right = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/auth/token",
            headers={"X-Forwarded-For": "10.9.1.1"},
            data={"username": "xff-member", "password": "pw-xff"},
        )
    assert codes[: settings.login_failures_per_user] == [401] * settings.login_failures_per_user
    assert codes[settings.login_failures_per_user :] == [429] * (12 - settings.login_failures_per_user)
    assert right.status_code == 429


def test_sign_in_takes_as_long_for_a_missing_user_as_for_a_wrong_password(client, tenant_a):
    """Finding 8: the answer's timing no longer tells which usernames exist (argon2 runs either way)."""
    import time

    def took(username):
        start = time.perf_counter()
        assert client.post("/api/v1/auth/token", data={"username": username, "password": "nope"}).status_code == 401
        return time.perf_counter() - start

    took("a-member")  # warm-up
    known = sorted(took("a-member") for _ in range(3))[1]
    unknown = sorted(took(f"ghost-{i}") for i in range(3))[1]
    assert unknown > known * 0.5, (known, unknown)
