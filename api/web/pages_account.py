"""One's own account, and a password reset with a code from the cooperative admin.

- ``/account``: who is signed in, in which cooperative and role; change one's own password (the current one is
  needed; its tries share the sign-in counters). The user's other sessions and API tokens end, this one stays.
- ``/reset``: a member types the one-time code their admin made on the members page (``/reset?code=`` fills it
  in) and a new password under the same policy as a new account. Every try counts against a per-address limit,
  right or wrong, before the code is looked up; the code is used up only when the password is accepted. Then all
  the member's sessions and API tokens end and they sign in again.

Both answer POST with a redirect (POST-redirect-GET); a refusal re-shows the form with the reason.
"""

from __future__ import annotations

from typing import Annotated

import redis
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import Principal, SessionDep, client_address, guard_login, login_succeeded
from api.errors import ApiError
from api.web.render import render, translate
from api.web.session import SESSION_COOKIE, PageUser, csrf_protect, page_locale
from cropwatch.accounts.members import MemberRefused, check_admin_may_change, set_password
from cropwatch.accounts.password_reset import ResetGrant, ResetUnavailable, cancel_user_code, peek_code, take_code
from cropwatch.core.enums import Role
from cropwatch.core.orm import Cooperative, Membership, User
from cropwatch.core.ratelimit import Limit, RateLimited
from cropwatch.core.security import PASSWORD_MIN, password_problem, token_hash, verify_password

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

RESET_WINDOW_S = 900


def reset_redis(request: Request) -> redis.Redis | None:
    """Where reset codes live: the Redis the rate limiter uses (the broker's); None without one."""
    return request.app.state.limiter.redis


def _text(request: Request, code: str, principal: Principal | None = None, **params: object) -> str:
    return translate(code, page_locale(request, principal), **params)


def new_password_problem(new: str, again: str, user: User) -> ApiError | None:
    """Why a new password is refused (mismatch, then the policy), or None."""
    if new != again:
        return ApiError(400, "password_mismatch")
    problem = password_problem(new, user.username, user.full_name or "")
    return ApiError(400, problem, n=PASSWORD_MIN) if problem else None


# one's own account -----------------------------------------------------------------------------------------------


def _account_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    error: str | None = None,
    done: str | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "account.html",
        principal,
        status=status,
        error=error,
        done=done,
        coop=session.get(Cooperative, principal.cooperative_id),
        password_min=PASSWORD_MIN,
    )


@router.get("/account")
def account_page(request: Request, session: SessionDep, principal: PageUser, done: str | None = None) -> Response:
    return _account_page(request, session, principal, done="account_password_changed" if done == "password" else None)


@router.post("/account/password")
def change_own_password(
    request: Request,
    session: SessionDep,
    principal: PageUser,
    current_password: Annotated[str, Form(max_length=256)] = "",
    new_password: Annotated[str, Form(max_length=256)] = "",
    new_password_again: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    user = principal.user
    try:
        guard_login(request, user.username)  # guessing the current password from a stolen session is slowed too
        if not verify_password(current_password, user.password_hash):
            raise ApiError(400, "account_wrong_current")
        login_succeeded(request, user.username)
        refused = new_password_problem(new_password, new_password_again, user)
        if refused:
            raise refused
        if verify_password(new_password, user.password_hash):
            raise ApiError(400, "password_unchanged")
    except ApiError as exc:
        return _account_page(
            request, session, principal, status=exc.status, error=_text(request, exc.code, principal, **exc.params)
        )
    current = request.cookies.get(SESSION_COOKIE)
    set_password(session, user, new_password, keep_token_hash=token_hash(current) if current else None)
    session.commit()
    cancel_user_code(reset_redis(request), user.id)  # an outstanding reset code must not undo this change
    return RedirectResponse("/account?done=password", status_code=303)


# reset with a code -----------------------------------------------------------------------------------------------


def _reset_page(request: Request, *, code: str = "", error: str | None = None, status: int = 200) -> Response:
    return render(request, "reset.html", status=status, code=code, error=error, password_min=PASSWORD_MIN)


@router.get("/reset")
def reset_page(request: Request, code: str = "") -> Response:
    return _reset_page(request, code=code[:64])


def count_reset_attempt(request: Request) -> None:
    """Count one try from this address (before anything is looked up); 429 past the limit."""
    limit = Limit("reset-addr", request.app.state.settings.reset_attempts_per_address, RESET_WINDOW_S)
    try:
        request.app.state.limiter.hit(limit, client_address(request))
    except RateLimited as exc:
        raise ApiError(429, "reset_too_many", minutes=max(1, exc.retry_after // 60)) from None


def granted_user(session: Session, grant: ResetGrant) -> User | None:
    """The user a code is for, if the rules still allow it now: active, still in that cooperative, still neither
    the union admin nor shared with another cooperative, and the admin who made it still that cooperative's
    admin."""
    user = session.get(User, grant.user_id)
    member = session.scalar(
        select(Membership).where(Membership.user_id == grant.user_id, Membership.cooperative_id == grant.cooperative_id)
    )
    issuer = session.scalar(
        select(Membership).where(
            Membership.user_id == grant.issued_by, Membership.cooperative_id == grant.cooperative_id
        )
    )
    if (
        user is None
        or not user.is_active
        or member is None
        or issuer is None
        or issuer.role != Role.coop_admin
        or not issuer.user.is_active
    ):
        return None
    try:
        check_admin_may_change(session, member, acting_user_id=grant.issued_by, own_code="reset_code_invalid")
    except MemberRefused:
        return None
    return user


@router.post("/reset")
def reset_password(
    request: Request,
    session: SessionDep,
    code: Annotated[str, Form(max_length=64)] = "",
    new_password: Annotated[str, Form(max_length=256)] = "",
    new_password_again: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    store = reset_redis(request)
    try:
        count_reset_attempt(request)
        grant = peek_code(store, code)
        user = granted_user(session, grant) if grant else None
        if user is None:
            raise ApiError(400, "reset_code_invalid")
        refused = new_password_problem(new_password, new_password_again, user)
        if refused:  # the code stays valid: the member tries another password
            raise refused
        if take_code(store, code) != grant:  # used in another browser a moment ago
            raise ApiError(400, "reset_code_invalid")
    except ApiError as exc:
        return _reset_page(request, code=code, status=exc.status, error=_text(request, exc.code, **exc.params))
    except ResetUnavailable:
        return _reset_page(request, code=code, status=503, error=_text(request, "reset_unavailable"))
    set_password(session, user, new_password)
    session.commit()
    return RedirectResponse("/login?done=reset", status_code=303)
