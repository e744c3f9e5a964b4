"""Which plots a person sees: the rule the farmer's pages and their own notification channels share.

A member (farmer) sees the plots of the farms they own, or all of the cooperative's when they own none (a member
who helps on the cooperative's fields); staff (agronomist, ML, cooperative admin) see every plot of the cooperative.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cropwatch.core.enums import Role
from cropwatch.core.orm import Farm, Plot


def own_plot_ids(session: Session, cooperative_id: int, user_id: int, role: Role) -> set[int] | None:
    """The plot ids ``user_id`` sees in ``cooperative_id``; None: all of them."""
    if role != Role.member:
        return None
    mine = set(
        session.scalars(
            select(Plot.id)
            .join(Farm, Farm.id == Plot.farm_id)
            .where(Plot.cooperative_id == cooperative_id, Farm.owner_id == user_id)
        )
    )
    return mine or None


def sees_plot(session: Session, cooperative_id: int, user_id: int, role: Role, plot_id: int) -> bool:
    ids = own_plot_ids(session, cooperative_id, user_id, role)
    return ids is None or plot_id in ids
