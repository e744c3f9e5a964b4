"""Tenant scoping: every lookup by id is filtered by the caller's cooperative; others' ids are 404.

The union admin reads aggregates (statistics, pressure, forecasts) of the union's cooperatives, not members' raw
records: captures, their photos and detections, and diary entries of its home cooperative answer 403 to it
(docs/security.md, "Roles").
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from api.deps import Principal
from api.errors import ApiError, not_found
from cropwatch.core.enums import Role

T = TypeVar("T")


def _raw_models() -> tuple[type, ...]:
    from cropwatch.core.orm import Capture, Detection, DiaryEntry

    return (Capture, Detection, DiaryEntry)


def scoped(model: type[T], principal: Principal) -> Select:
    if principal.role == Role.union_admin and model in _raw_models():
        raise ApiError(403, "union_aggregates_only")
    return select(model).where(model.cooperative_id == principal.cooperative_id)  # type: ignore[attr-defined]


def get_owned(session: Session, model: type[T], obj_id: int, principal: Principal, what: str) -> T:
    obj = session.scalar(scoped(model, principal).where(model.id == obj_id))  # type: ignore[attr-defined]
    if obj is None:
        raise not_found(what)
    return obj
