"""Issue 14 item 6: a cooperative admin makes a one-time reset code for a member, the member sets a new password
with it on /reset and every old session ends; anyone signed in changes their own password on /account."""

from __future__ import annotations

import re
import time

import pytest
from factories import make_tenant
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.web.session import CSRF_COOKIE, SESSION_COOKIE
from cropwatch.accounts.password_reset import PREFIX, USER_PREFIX, code_hash, normalize_code
from cropwatch.core.enums import Role
from cropwatch.core.orm import ApiToken, Membership, User
from cropwatch.core.security import hash_password

NEW_PW = "ruong lua xanh thang muoi"
CODE_RE = re.compile(r'id="reset-code-value">([0-9A-Z-]+)<')


@pytest.fixture
def app(settings, storage):
    return create_app(settings, enqueue=lambda _id: None, enqueue_training=lambda _id: None)


@pytest.fixture(autouse=True)
def clean_counters(app):
    """Sign-in and reset counters live in the shared Redis: start and leave them at zero."""

    def clear() -> None:
        r = app.state.limiter.redis
        keys = list(r.scan_iter(match="cropwatch:rl:*"))
        if keys:
            r.delete(*keys)

    clear()
    yield
    clear()


@pytest.fixture
def world(sessions):
    with sessions.begin() as s:
        a, b = make_tenant(s, "pr"), make_tenant(s, "px")
        union = User(username="pr-union", full_name="union", password_hash=hash_password("pw-pr"))
        shared = User(username="pr-shared", full_name="shared", password_hash=hash_password("pw-pr"))
        admin2 = User(username="pr-admin2", full_name="second admin", password_hash=hash_password("pw-pr"))
        s.add_all([union, shared, admin2])
        s.flush()
        s.add_all(
            [
                Membership(user_id=union.id, cooperative_id=a.cooperative_id, role=Role.union_admin),
                Membership(user_id=shared.id, cooperative_id=a.cooperative_id, role=Role.agronomist),
                Membership(user_id=shared.id, cooperative_id=b.cooperative_id, role=Role.agronomist),
                Membership(user_id=admin2.id, cooperative_id=a.cooperative_id, role=Role.coop_admin),
            ]
        )
        s.flush()

        def membership(user_id: int, coop: int) -> int:
            return s.scalar(
                select(Membership.id).where(Membership.user_id == user_id, Membership.cooperative_id == coop)
            )

        return {
            "a": a,
            "b": b,
            "member": membership(a.user_ids[Role.member], a.cooperative_id),
            "union": membership(union.id, a.cooperative_id),
            "shared": membership(shared.id, a.cooperative_id),
            "self": membership(a.user_ids[Role.coop_admin], a.cooperative_id),
            "b_member": membership(b.user_ids[Role.member], b.cooperative_id),
            "union_id": union.id,
            "shared_id": shared.id,
        }


def _client(app) -> TestClient:
    return TestClient(app, follow_redirects=False)


def _login(c: TestClient, username: str, password: str):
    c.get("/login")
    return c.post("/login", data={"username": username, "password": password, "csrf_token": c.cookies.get(CSRF_COOKIE)})


def _csrf(c: TestClient) -> dict[str, str]:
    if not c.cookies.get(CSRF_COOKIE):
        c.get("/reset")
    return {"csrf_token": c.cookies.get(CSRF_COOKIE)}


def _make_code(admin: TestClient, membership_id: int) -> str:
    r = admin.post(f"/admin/members/{membership_id}/reset-code", data=_csrf(admin))
    assert r.status_code == 303, r.text
    page = admin.get(r.headers["location"])
    assert page.status_code == 200
    found = CODE_RE.search(page.text)
    assert found, page.text[:3000]
    return found.group(1)


def _reset(c: TestClient, code: str, password: str, again: str | None = None):
    return c.post(
        "/reset",
        data={"code": code, "new_password": password, "new_password_again": password if again is None else again}
        | _csrf(c),
    )


def test_admin_makes_a_code_the_member_resets_and_every_old_session_ends(app, world, sessions):
    a = world["a"]
    with _client(app) as admin, _client(app) as member, _client(app) as old_browser:
        assert _login(old_browser, "pr-member", "pw-pr").status_code == 303
        assert old_browser.get("/alerts").status_code == 200
        assert _login(admin, "pr-coop_admin", "pw-pr").status_code == 303
        r = admin.post(f"/admin/members/{world['member']}/reset-code", data=_csrf(admin))
        assert r.status_code == 303 and "show=" in r.headers["location"]
        page = admin.get(r.headers["location"])
        code = CODE_RE.search(page.text).group(1)
        assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", code)
        assert f"/reset?code={code}" in page.text and "Zalo" in page.text and "pr-member" in page.text
        # shown once: the same address again shows no code, only that it was shown
        again = admin.get(r.headers["location"])
        assert code not in again.text and "đã được hiện một lần" in again.text
        # only the hash is kept in Redis, with a TTL of about a day
        redis = app.state.limiter.redis
        assert redis.get(PREFIX + code_hash(code)) is not None
        assert 23 * 3600 < redis.ttl(PREFIX + code_hash(code)) <= 24 * 3600
        assert not [k for k in redis.scan_iter(match=PREFIX + "*") if normalize_code(code).encode() in k]

        form = member.get(f"/reset?code={code}")
        assert form.status_code == 200 and f'value="{code}"' in form.text
        done = _reset(member, code.lower().replace("-", " "), NEW_PW)  # typed loosely: still the code
        assert done.status_code == 303 and done.headers["location"] == "/login?done=reset"
        assert "Hãy đăng nhập bằng mật khẩu mới" in member.get("/login?done=reset").text

        # the old password, the old browser session and the API token no longer work
        assert _login(member, "pr-member", "pw-pr").status_code == 401
        assert old_browser.get("/alerts").status_code == 303
        assert member.get("/api/v1/auth/me", headers=a.auth(Role.member)).status_code == 401
        with sessions() as s:
            tokens = s.scalars(select(ApiToken).where(ApiToken.user_id == a.user_ids[Role.member])).all()
            assert tokens and all(t.revoked_at is not None for t in tokens)
        # the new one does; the code cannot be used twice
        assert _login(member, "pr-member", NEW_PW).status_code == 303
        member.cookies.delete(SESSION_COOKIE)
        reused = _reset(member, code, "another long passphrase 7")
        assert reused.status_code == 400 and "đã được dùng" in reused.text
        assert _login(member, "pr-member", NEW_PW).status_code == 303


def test_an_expired_code_is_refused(app, world):
    with _client(app) as admin, _client(app) as member:
        _login(admin, "pr-coop_admin", "pw-pr")
        code = _make_code(admin, world["member"])
        app.state.limiter.redis.pexpire(PREFIX + code_hash(code), 1)  # what the 24 h TTL does, sooner
        time.sleep(0.05)
        r = _reset(member, code, NEW_PW)
        assert r.status_code == 400 and "đã hết hạn" in r.text
        assert _login(member, "pr-member", "pw-pr").status_code == 303


def test_a_new_code_replaces_the_previous_one(app, world):
    with _client(app) as admin, _client(app) as member:
        _login(admin, "pr-coop_admin", "pw-pr")
        first = _make_code(admin, world["member"])
        second = _make_code(admin, world["member"])
        assert _reset(member, first, NEW_PW).status_code == 400
        assert _reset(member, second, NEW_PW).status_code == 303


def test_a_coop_admin_cannot_make_a_code_for_the_union_admin_a_shared_account_or_themselves(app, world):
    redis = app.state.limiter.redis
    with _client(app) as admin:
        _login(admin, "pr-coop_admin", "pw-pr")
        for key, words in (("union", "liên minh"), ("shared", "hợp tác xã khác"), ("self", "trang Tài khoản")):
            r = admin.post(f"/admin/members/{world[key]}/reset-code", data=_csrf(admin))
            assert r.status_code == 400 and words in r.text, (key, r.status_code)
        # another cooperative's member does not exist for this admin
        assert admin.post(f"/admin/members/{world['b_member']}/reset-code", data=_csrf(admin)).status_code == 404
    for user_id in (world["union_id"], world["shared_id"]):
        assert redis.get(f"{USER_PREFIX}{user_id}") is None
    with _client(app) as farmer:  # and a farmer cannot make one at all
        _login(farmer, "pr-member", "pw-pr")
        assert farmer.post(f"/admin/members/{world['member']}/reset-code", data=_csrf(farmer)).status_code == 403


def test_a_code_stops_working_when_the_account_is_shared_after_it_was_made(app, world, sessions):
    with _client(app) as admin, _client(app) as member:
        _login(admin, "pr-coop_admin", "pw-pr")
        code = _make_code(admin, world["member"])
        with sessions.begin() as s:
            s.add(
                Membership(
                    user_id=world["a"].user_ids[Role.member], cooperative_id=world["b"].cooperative_id, role=Role.member
                )
            )
        assert _reset(member, code, NEW_PW).status_code == 400
        assert _login(member, "pr-member", "pw-pr").status_code == 303


def test_the_code_is_shown_only_to_the_admin_who_made_it(app, world):
    with _client(app) as admin, _client(app) as other_admin:
        _login(admin, "pr-coop_admin", "pw-pr")
        _login(other_admin, "pr-admin2", "pw-pr")
        r = admin.post(f"/admin/members/{world['member']}/reset-code", data=_csrf(admin))
        seen_by_other = other_admin.get(r.headers["location"])
        assert seen_by_other.status_code == 200 and not CODE_RE.search(seen_by_other.text)
        assert CODE_RE.search(admin.get(r.headers["location"]).text)  # still there for its admin


def test_a_weak_password_is_refused_with_the_reason_and_the_code_stays_valid(app, world):
    with _client(app) as admin, _client(app) as member:
        _login(admin, "pr-coop_admin", "pw-pr")
        code = _make_code(admin, world["member"])
        for password, again, words in (
            ("short", None, "quá ngắn"),
            ("0912345678", None, "chỉ gồm chữ số"),
            ("matkhau123", None, "quá dễ đoán"),
            (NEW_PW, NEW_PW + "x", "không giống nhau"),
        ):
            r = _reset(member, code, password, again)
            assert r.status_code == 400 and words in r.text, (password, r.text[:500])
            assert f'value="{code}"' in r.text  # the code stays in the form
        assert _reset(member, code, NEW_PW).status_code == 303
        assert _login(member, "pr-member", NEW_PW).status_code == 303


def test_the_reset_page_speaks_english_when_asked(app, world):
    with _client(app) as c:
        page = c.get("/reset?lang=en")
        assert page.status_code == 200 and "Reset your password" in page.text
        assert "content-security-policy" in page.headers
        r = c.post(
            "/reset?lang=en",
            data={"code": "AAAA-BBBB-CCCC", "new_password": NEW_PW, "new_password_again": NEW_PW} | _csrf(c),
        )
        assert r.status_code == 400 and "wrong, expired or already used" in r.text
        assert (
            c.post("/reset", data={"code": "x", "new_password": NEW_PW, "new_password_again": NEW_PW}).status_code
            == 403
        )  # no CSRF token: refused like every other form


def test_guessing_codes_is_rate_limited(settings, storage, world):
    app = create_app(
        settings.model_copy(update={"reset_attempts_per_address": 5}),
        enqueue=lambda _id: None,
        enqueue_training=lambda _id: None,
    )
    with _client(app) as admin, _client(app) as guesser:
        _login(admin, "pr-coop_admin", "pw-pr")
        code = _make_code(admin, world["member"])
        for i in range(5):
            assert _reset(guesser, f"AAAA-BBBB-{i:04d}", NEW_PW).status_code == 400
        r = _reset(guesser, code, NEW_PW)  # even the right code waits: every try counts
        assert r.status_code == 429 and "thử lại sau" in r.text
    assert app.state.limiter.redis.get(PREFIX + code_hash(code)) is not None  # not used up


def test_changing_ones_own_password_needs_the_current_one(app, world, sessions):
    a = world["a"]
    with _client(app) as me, _client(app) as my_phone:
        _login(me, "pr-agronomist", "pw-pr")
        _login(my_phone, "pr-agronomist", "pw-pr")
        page = me.get("/account")
        assert page.status_code == 200 and "pr-agronomist" in page.text and "HTX pr" in page.text
        assert 'href="/account"' in page.text  # in the menu of every role
        form = {"new_password": NEW_PW, "new_password_again": NEW_PW}
        wrong = me.post("/account/password", data={"current_password": "guess"} | form | _csrf(me))
        assert wrong.status_code == 400 and "Mật khẩu hiện tại không đúng" in wrong.text
        weak = me.post(
            "/account/password",
            data={"current_password": "pw-pr", "new_password": "matkhau123", "new_password_again": "matkhau123"}
            | _csrf(me),
        )
        assert weak.status_code == 400 and "quá dễ đoán" in weak.text
        assert _login(TestClient(app), "pr-agronomist", "pw-pr").status_code == 200  # unchanged so far
        r = me.post("/account/password", data={"current_password": "pw-pr"} | form | _csrf(me))
        assert r.status_code == 303 and r.headers["location"] == "/account?done=password"
        assert "Đã đổi mật khẩu" in me.get("/account?done=password").text
        # this session goes on; the other browser and the API token are signed out
        assert me.get("/review").status_code == 200
        assert my_phone.get("/review").status_code == 303
        assert me.get("/api/v1/auth/me", headers=a.auth(Role.agronomist)).status_code == 401
    with _client(app) as c:
        assert _login(c, "pr-agronomist", "pw-pr").status_code == 401
        assert _login(c, "pr-agronomist", NEW_PW).status_code == 303


def test_guessing_the_current_password_shares_the_sign_in_limit(settings, storage, world):
    app = create_app(
        settings.model_copy(update={"login_failures_per_user": 3}),
        enqueue=lambda _id: None,
        enqueue_training=lambda _id: None,
    )
    with _client(app) as me:
        _login(me, "pr-member", "pw-pr")
        form = {"new_password": NEW_PW, "new_password_again": NEW_PW}
        codes = [
            me.post("/account/password", data={"current_password": f"guess{i}"} | form | _csrf(me)).status_code
            for i in range(3)
        ]
        r = me.post("/account/password", data={"current_password": "pw-pr"} | form | _csrf(me))
        assert codes == [400, 400, 400] and r.status_code == 429
