"""What a cooperative admin may do to an account (the rules the members page applies).

An account can belong to several cooperatives, and the union admin's account is the union's, not one
cooperative's: a cooperative admin changes role, locks, unlocks or makes a password reset code only for accounts that
are theirs alone, never their own (their own password is changed on the account page), and never a union admin's.
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cropwatch.core.enums import Role
from cropwatch.core.orm import ApiToken, Membership, User
from cropwatch.core.security import hash_password
from cropwatch.core.timeutil import utcnow


class MemberRefused(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


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
