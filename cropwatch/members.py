"""What a cooperative admin may do to an account (the rules the members page applies).

An account can belong to several cooperatives, and the union admin's account is the union's, not one
cooperative's: a cooperative admin changes role, locks or unlocks only accounts that are theirs alone, never their
own, and never a union admin's.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cropwatch.domain import Role
from cropwatch.tables import Membership


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
    others = session.scalar(select(func.count(Membership.id)).where(
        Membership.user_id == m.user_id, Membership.cooperative_id != m.cooperative_id)) or 0
    if others:
        raise MemberRefused("admin_deactivate_shared")
