"""Tenant scoping: every lookup by id is filtered by the caller's cooperative; others' ids are 404."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from api.deps import Principal
from api.errors import not_found

T = TypeVar("T")


def scoped(model: type[T], principal: Principal) -> Select:
    return select(model).where(model.cooperative_id == principal.cooperative_id)  # type: ignore[attr-defined]


def get_owned(session: Session, model: type[T], obj_id: int, principal: Principal, what: str) -> T:
    obj = session.scalar(scoped(model, principal).where(model.id == obj_id))  # type: ignore[attr-defined]
    if obj is None:
        raise not_found(what)
    return obj
