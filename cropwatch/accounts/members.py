"""What a cooperative admin may do to an account (the rules the members page applies).

An account can belong to several cooperatives, and the union admin's account is the union's, not one
cooperative's: a cooperative admin changes role, locks, unlocks or makes a password reset code only for accounts that
are theirs alone, never their own (their own password is changed on the account page), and never a union admin's.
"""

from __future__ import annotations

import re

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cropwatch.core.enums import Role
from cropwatch.core.orm import ApiToken, Membership, User
from cropwatch.core.security import PASSWORD_MIN, hash_password, password_problem
from cropwatch.core.timeutil import utcnow

#: the roles a cooperative admin gives (a union admin is made by the union's own command)
ASSIGNABLE = (Role.member, Role.agronomist, Role.ml_engineer, Role.coop_admin)
USERNAME_RE = re.compile(r"^[A-Za-z0-9._-]{3,64}$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 .-]{5,19}$")


class MemberRefused(Exception):
    """A refused change; ``code`` is a catalogue key, ``status`` the HTTP status a page answers with."""

    def __init__(self, code: str, status: int = 400, **params: object) -> None:
        super().__init__(code)
        self.code, self.status, self.params = code, status, params


def add_member(
    session: Session,
    *,
    cooperative_id: int,
    username: str,
    full_name: str,
    phone: str,
    password: str,
    role: str,
    locale: str,
) -> Membership:
    """A new account in the cooperative, after the checks (username and phone forms, the password policy, an
    assignable role, a username nobody has); commits. Raises :class:`MemberRefused`."""
    username, full_name, phone = username.strip(), full_name.strip(), phone.strip()
    if not USERNAME_RE.match(username):
        raise MemberRefused("admin_bad_username")
    if not full_name:
        raise MemberRefused("admin_required", field="admin_full_name")
    if phone and not PHONE_RE.match(phone):
        raise MemberRefused("admin_bad_phone")
    problem = password_problem(password, username, full_name)
    if problem:
        raise MemberRefused(problem, n=PASSWORD_MIN)
    if role not in {r.value for r in ASSIGNABLE}:
        raise MemberRefused("admin_role_not_assignable")
    if session.scalar(select(User.id).where(func.lower(User.username) == username.lower())) is not None:
        raise MemberRefused("admin_username_taken", 409, username=username)
    user = User(
        username=username,
        full_name=full_name,
        phone=phone or None,
        password_hash=hash_password(password),
        locale=locale,
    )
    try:
        session.add(user)
        session.flush()
        membership = Membership(user_id=user.id, cooperative_id=cooperative_id, role=Role(role))
        session.add(membership)
        session.commit()
    except IntegrityError:  # the same username added at the same moment by someone else
        session.rollback()
        raise MemberRefused("admin_username_taken", 409, username=username) from None
    return membership


def change_role(session: Session, m: Membership, role: str, *, acting_user_id: int) -> None:
    """Give ``m`` another assignable role (the caller commits)."""
    check_admin_may_change(session, m, acting_user_id=acting_user_id, own_code="admin_self_role")
    if role == m.role.value:
        return
    if role not in {r.value for r in ASSIGNABLE}:
        raise MemberRefused("admin_role_not_assignable")
    m.role = Role(role)


def set_active(session: Session, m: Membership, active: bool, *, acting_user_id: int) -> None:
    """Lock (every session and API token revoked at once) or unlock an account; old sessions stay revoked, so an
    unlocked member signs in again. The caller commits."""
    check_admin_may_change(session, m, acting_user_id=acting_user_id, own_code="admin_self_deactivate")
    m.user.is_active = active
    if not active:
        revoke_user_tokens(session, m.user_id)


def check_admin_may_change(session: Session, m: Membership, *, acting_user_id: int, own_code: str) -> None:
    """Raise :class:`MemberRefused` when the cooperative admin ``acting_user_id`` may not change ``m``'s account
    (``own_code``: the refusal for acting on oneself)."""
    if m.user_id == acting_user_id:
        raise MemberRefused(own_code)
    if m.role == Role.union_admin:
        raise MemberRefused("admin_union_admin_protected")
    others = (
        session.scalar(
            select(func.count(Membership.id)).where(
                Membership.user_id == m.user_id, Membership.cooperative_id != m.cooperative_id
            )
        )
        or 0
    )
    if others:
        raise MemberRefused("admin_deactivate_shared")


def revoke_user_tokens(session: Session, user_id: int, *, keep_token_hash: str | None = None) -> int:
    """End every browser session and API token of a user (they stay in the table, revoked), except the one whose
    hash is ``keep_token_hash`` (the session a user changes their own password from)."""
    q = update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
    if keep_token_hash is not None:
        q = q.where(ApiToken.token_hash != keep_token_hash)
    return session.execute(q.values(revoked_at=utcnow())).rowcount or 0


def set_password(session: Session, user: User, password: str, *, keep_token_hash: str | None = None) -> int:
    """Store a new password (already checked against the policy) and end the user's other sessions and tokens;
    returns how many were ended. The caller commits."""
    user.password_hash = hash_password(password)
    return revoke_user_tokens(session, user.id, keep_token_hash=keep_token_hash)
