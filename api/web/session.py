"""Browser sessions for the web pages.

- The session cookie holds a user token: the same revocable, expiring ``ApiToken`` rows the API uses, so logging
  out (or an admin revoking tokens) ends the browser session too. HttpOnly, SameSite=Lax, and Secure in production
  or over HTTPS.
- CSRF: double-submit token. A random ``cw_csrf`` cookie is set with the first page; every unsafe request to a page
  route carries the same value as the ``csrf_token`` form field or the ``X-CSRF-Token`` header (HTMX and fetch).
- The page language: ``?lang=`` or the ``cw_lang`` cookie, else the user's own setting, else Vietnamese.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from typing import Annotated

from fastapi import Depends, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import Principal, SessionDep
from api.errors import ApiError
from cropwatch.core.i18n import DEFAULT_LOCALE, LOCALES
from cropwatch.core.orm import ApiToken, Membership, User
from cropwatch.core.security import new_token, token_hash
from cropwatch.core.timeutil import utcnow

SESSION_COOKIE = "cw_session"
CSRF_COOKIE = "cw_csrf"
LANG_COOKIE = "cw_lang"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class LoginRequired(Exception):
    """Raised by page dependencies when nobody is signed in; answered with a redirect to the login page."""


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.app.state.settings.environment == "production"


def principal_from_cookie(request: Request, session: Session) -> Principal | None:
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    tok = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(raw)))
    if tok is None or tok.revoked_at is not None or tok.expires_at < utcnow():
        return None
    user = session.get(User, tok.user_id)
    membership = session.scalar(
        select(Membership).where(Membership.user_id == tok.user_id, Membership.cooperative_id == tok.cooperative_id)
    )
    if user is None or not user.is_active or membership is None:
        return None
    return Principal(user=user, cooperative_id=tok.cooperative_id, role=membership.role)


def current_page_user(request: Request, session: SessionDep) -> Principal:
    principal = principal_from_cookie(request, session)
    if principal is None:
        raise LoginRequired()
    request.state.principal = principal
    return principal


PageUser = Annotated[Principal, Depends(current_page_user)]


def start_session(request: Request, response: Response, session: Session, user: User, cooperative_id: int) -> None:
    token = new_token("cw")
    ttl = dt.timedelta(hours=request.app.state.settings.token_ttl_hours)
    session.add(
        ApiToken(
            token_hash=token_hash(token), user_id=user.id, cooperative_id=cooperative_id, expires_at=utcnow() + ttl
        )
    )
    session.commit()
    secure = _secure(request)
    response.set_cookie(
        SESSION_COOKIE, token, max_age=int(ttl.total_seconds()), httponly=True, samesite="lax", secure=secure, path="/"
    )
    # a new CSRF token with every new session (no fixation across logins)
    response.set_cookie(
        CSRF_COOKIE, secrets.token_urlsafe(32), httponly=True, samesite="strict", secure=secure, path="/"
    )


def end_session(request: Request, response: Response, session: Session) -> None:
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        tok = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(raw)))
        if tok is not None and tok.revoked_at is None:
            tok.revoked_at = utcnow()
            session.commit()
    response.delete_cookie(SESSION_COOKIE, path="/")


def csrf_token(request: Request) -> str:
    """The token pages put in forms; created (and set as a cookie by ``render``) when the browser has none."""
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if token is None:
        token = request.state.new_csrf = secrets.token_urlsafe(32)
    return token


def set_csrf_cookie(request: Request, response: Response) -> None:
    new = getattr(request.state, "new_csrf", None)
    if new and not request.cookies.get(CSRF_COOKIE):
        response.set_cookie(CSRF_COOKIE, new, httponly=True, samesite="strict", secure=_secure(request), path="/")


async def csrf_protect(request: Request) -> None:
    """Router dependency of every page route: unsafe methods need the double-submit token."""
    if request.method in SAFE_METHODS:
        return
    cookie = request.cookies.get(CSRF_COOKIE)
    sent = request.headers.get("x-csrf-token")
    if not sent:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            sent = (await request.form()).get("csrf_token")
    if not cookie or not isinstance(sent, str) or not hmac.compare_digest(cookie, sent):
        raise ApiError(403, "csrf_failed")


def _user_locale(principal: Principal | None) -> str | None:
    try:
        return principal.user.locale if principal else None
    except Exception:  # noqa: BLE001 - a user row expired by a rolled-back session: fall back to the defaults
        return None


def page_locale(request: Request, principal: Principal | None = None) -> str:
    for value in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE), _user_locale(principal)):
        if value in LOCALES:
            return value
    return DEFAULT_LOCALE
