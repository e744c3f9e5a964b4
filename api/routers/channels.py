"""Notification channels of a cooperative, and the delivery log of an alert."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import select

from api.deps import CurrentUser, SessionDep
from api.schemas import Id, errors
from api.scoping import get_owned, scoped
from cropwatch.domain import AlertLevel, Role
from cropwatch.notify import KINDS
from cropwatch.tables import Alert, Delivery, NotificationChannel

router = APIRouter(tags=["notifications"], responses=errors(401))
MANAGERS = (Role.agronomist, Role.coop_admin)
REQUIRED = {"webhook": ("url", "secret"), "email": ("to",), "telegram": ("bot_token", "chat_id"),
            "zalo": ("access_token", "user_id"), "in_app": ()}
SECRET_KEYS = {"secret", "bot_token", "access_token"}


class ChannelIn(BaseModel):
    kind: str
    name: str = Field(default="", max_length=200)
    config: dict = Field(default_factory=dict)
    locale: str = Field(default="vi", pattern="^(vi|en)$")
    min_level: AlertLevel = AlertLevel.watch

    @model_validator(mode="after")
    def _check(self) -> "ChannelIn":
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        missing = [k for k in REQUIRED[self.kind] if not self.config.get(k)]
        if missing:
            raise ValueError(f"{self.kind} needs {', '.join(missing)} in config")
        if self.kind == "webhook" and not str(self.config["url"]).startswith(("http://", "https://")):
            raise ValueError("webhook url must be http(s)")
        if self.kind == "email" and not isinstance(self.config["to"], list):
            raise ValueError("email config.to must be a list of addresses")
        return self


class ChannelOut(BaseModel):
    id: int
    kind: str
    name: str
    config: dict
    locale: str
    min_level: AlertLevel
    enabled: bool
    created_at: dt.datetime


class DeliveryOut(BaseModel):
    model_config = {"from_attributes": True}
    id: int
    channel_id: int
    level: AlertLevel
    status: str
    attempts: int
    last_error: str | None
    response_code: int | None
    sent_at: dt.datetime | None
    created_at: dt.datetime


def _out(ch: NotificationChannel) -> ChannelOut:
    shown = {k: ("***" if k in SECRET_KEYS else v) for k, v in ch.config.items()}  # secrets are write-only
    return ChannelOut(id=ch.id, kind=ch.kind, name=ch.name, config=shown, locale=ch.locale, min_level=ch.min_level,
                      enabled=ch.enabled, created_at=ch.created_at)


@router.post("/api/v1/channels", response_model=ChannelOut, status_code=201, responses=errors(400, 403))
def add_channel(body: ChannelIn, session: SessionDep, principal: CurrentUser) -> ChannelOut:
    principal.require(*MANAGERS)
    ch = NotificationChannel(cooperative_id=principal.cooperative_id, **body.model_dump())
    session.add(ch)
    session.commit()
    return _out(ch)


@router.get("/api/v1/channels", response_model=list[ChannelOut], responses=errors(403))
def list_channels(session: SessionDep, principal: CurrentUser) -> list[ChannelOut]:
    principal.require(*MANAGERS)
    return [_out(c) for c in session.scalars(scoped(NotificationChannel, principal).order_by(NotificationChannel.id))]


@router.delete("/api/v1/channels/{channel_id}", response_model=ChannelOut, responses=errors(403, 404))
def disable_channel(channel_id: Id, session: SessionDep, principal: CurrentUser) -> ChannelOut:
    """Channels are disabled, not deleted: their delivery log stays."""
    principal.require(*MANAGERS)
    ch = get_owned(session, NotificationChannel, channel_id, principal, "channel")
    ch.enabled = False
    session.commit()
    return _out(ch)


@router.get("/api/v1/alerts/{alert_id}/deliveries", response_model=list[DeliveryOut], responses=errors(404))
def alert_deliveries(alert_id: Id, session: SessionDep, principal: CurrentUser) -> list[Delivery]:
    get_owned(session, Alert, alert_id, principal, "alert")
    return list(session.scalars(select(Delivery).where(Delivery.alert_id == alert_id).order_by(Delivery.id)))

