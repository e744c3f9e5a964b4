"""Annotated dependencies: the session, the signed-in principal (user + cooperative + role), the camera."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.errors import ApiError
from cropwatch.core.enums import Role
from cropwatch.core.orm import ApiToken, Camera, Membership, User
from cropwatch.core.security import token_hash
from cropwatch.core.settings import Settings
from cropwatch.core.storage import Storage
from cropwatch.core.timeutil import utcnow

bearer = HTTPBearer(auto_error=False)


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    session = request.app.state.sessions()
    try:
        yield session
    finally:
        session.close()


def get_storage(request: Request) -> Storage:
    return request.app.state.storage


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session)]
StorageDep = Annotated[Storage, Depends(get_storage)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


@dataclass(frozen=True)
class Principal:
    user: User
    cooperative_id: int
    role: Role

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            raise ApiError(403, "forbidden_role")


def _unauthorized() -> ApiError:
    return ApiError(401, "unauthorized", headers={"WWW-Authenticate": "Bearer"})


def current_principal(session: SessionDep, creds: Credentials) -> Principal:
    if creds is None or not creds.credentials:
        raise _unauthorized()
    tok = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(creds.credentials)))
    if tok is None or tok.revoked_at is not None or tok.expires_at < utcnow():
        raise _unauthorized()
    user = session.get(User, tok.user_id)
    membership = session.scalar(
        select(Membership).where(Membership.user_id == tok.user_id, Membership.cooperative_id == tok.cooperative_id)
    )
    if user is None or not user.is_active or membership is None:
        raise _unauthorized()
    return Principal(user=user, cooperative_id=tok.cooperative_id, role=membership.role)


CurrentUser = Annotated[Principal, Depends(current_principal)]


def _limits(request: Request):
    from cropwatch.core.ratelimit import Limit

    s = request.app.state.settings
    return (
        Limit("login-user", s.login_failures_per_user, 900),
        Limit("login-addr", s.login_failures_per_address, 900),
        Limit("camera", s.camera_requests_per_minute, 60),
    )


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def guard_login(request: Request, username: str) -> None:
    """Before checking a password, count the attempt (address + username, and address) and answer 429 past the
    limit. Counting first, atomically, is what makes 40 parallel guesses meet the limit of 10: a check-then-count
    let them all through."""
    from cropwatch.core.ratelimit import RateLimited

    per_user, per_addr, _ = _limits(request)
    addr = client_address(request)
    try:
        request.app.state.limiter.hit(per_addr, addr)
        request.app.state.limiter.hit(per_user, f"{addr}:{username.lower()}")
    except RateLimited as exc:
        raise ApiError(
            429,
            "too_many_attempts",
            headers={"Retry-After": str(exc.retry_after)},
            minutes=max(1, exc.retry_after // 60),
        ) from None


def login_succeeded(request: Request, username: str) -> None:
    request.app.state.limiter.reset(_limits(request)[0], f"{client_address(request)}:{username.lower()}")


def current_camera(request: Request, session: SessionDep, creds: Credentials) -> Camera:
    if creds is None or not creds.credentials:
        raise ApiError(401, "camera_token_invalid", headers={"WWW-Authenticate": "Bearer"})
    cam = session.scalar(select(Camera).where(Camera.token_hash == token_hash(creds.credentials)))
    if cam is None or cam.token_revoked_at is not None:
        raise ApiError(401, "camera_token_invalid", headers={"WWW-Authenticate": "Bearer"})
    from cropwatch.core.ratelimit import RateLimited

    try:
        request.app.state.limiter.hit(_limits(request)[2], cam.token_hash[:24])
    except RateLimited as exc:
        raise ApiError(429, "too_many_requests", headers={"Retry-After": str(exc.retry_after)}) from None
    cam.last_seen_at = utcnow()
    session.commit()
    return cam


CurrentCamera = Annotated[Camera, Depends(current_camera)]

STAFF = (Role.agronomist, Role.coop_admin)
ANY_ROLE = tuple(Role)
