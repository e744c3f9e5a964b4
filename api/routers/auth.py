from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, Request
from sqlalchemy import select

from api.deps import Credentials, CurrentUser, SessionDep, SettingsDep, guard_login, login_succeeded
from api.errors import ApiError
from api.schemas import MeOut, TokenOut, errors
from cropwatch.core.orm import ApiToken, User
from cropwatch.core.security import new_token, password_matches, token_hash
from cropwatch.core.timeutil import utcnow

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/token", response_model=TokenOut, responses=errors(400, 401, 422, 429))
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    cooperative_id: Annotated[int | None, Form()] = None,
) -> TokenOut:
    """Sign in with a username and password; the token acts in one cooperative (the first by default). Too many
    failures from one address for one username (or too many attempts from one address) answer 429."""
    guard_login(request, username)
    user = session.scalar(select(User).where(User.username == username))
    if not password_matches(user, password):
        raise ApiError(401, "bad_credentials")
    login_succeeded(request, username)
    memberships = sorted(user.memberships, key=lambda m: m.cooperative_id)
    chosen = next((m for m in memberships if cooperative_id in (None, m.cooperative_id)), None)
    if chosen is None:
        raise ApiError(401, "bad_credentials")
    token = new_token("cw")
    expires = utcnow() + dt.timedelta(hours=settings.token_ttl_hours)
    session.add(
        ApiToken(
            token_hash=token_hash(token), user_id=user.id, cooperative_id=chosen.cooperative_id, expires_at=expires
        )
    )
    session.commit()
    return TokenOut(access_token=token, expires_at=expires, cooperative_id=chosen.cooperative_id, role=chosen.role)


@router.post("/logout", status_code=204, responses=errors(401))
def logout(session: SessionDep, principal: CurrentUser, creds: Credentials) -> None:
    tok = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(creds.credentials)))
    tok.revoked_at = utcnow()
    session.commit()


@router.get("/me", response_model=MeOut, responses=errors(401))
def me(principal: CurrentUser) -> MeOut:
    u = principal.user
    return MeOut(
        id=u.id,
        username=u.username,
        full_name=u.full_name,
        locale=u.locale,
        cooperative_id=principal.cooperative_id,
        role=principal.role,
    )
