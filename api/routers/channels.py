"""Notification channels of a cooperative, and the delivery log of an alert."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import func, select

from api.deps import CurrentUser, SessionDep, SettingsDep
from api.errors import ApiError
from api.schemas import Id, errors
from api.scoping import get_owned, scoped
from cropwatch.alerts.notify import KINDS, ChannelConfigError, validate_channel_config
from cropwatch.core.egress import EgressPolicy
from cropwatch.core.enums import AlertLevel, Role
from cropwatch.core.orm import Alert, Delivery, NotificationChannel

router = APIRouter(tags=["notifications"], responses=errors(401))
MANAGERS = (Role.agronomist, Role.coop_admin)
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
    return ChannelOut(
        id=ch.id,
        kind=ch.kind,
        name=ch.name,
        config=shown,
        locale=ch.locale,
        min_level=ch.min_level,
        enabled=ch.enabled,
        created_at=ch.created_at,
    )


def shared_channel_owned(session, channel_id: int, principal) -> NotificationChannel:
    """One of the cooperative's own channels (404 for another cooperative's, and for a member's own channel: that
    is theirs to change, on their notifications page)."""
    ch = get_owned(session, NotificationChannel, channel_id, principal, "channel")
    if ch.user_id is not None:
        raise ApiError(404, "not_found", what="channel")
    return ch


def create_channel(session, principal, settings, body: ChannelIn) -> NotificationChannel:
    """Check and store a channel (the API's POST and the channels page): 422 ``channel_invalid`` with the reason,
    400 over the cooperative's channel cap."""
    principal.require(*MANAGERS)
    try:
        validate_channel_config(body.kind, body.config, EgressPolicy.from_settings(settings))
    except ChannelConfigError as exc:
        raise ApiError(422, "channel_invalid", reason=exc.message) from None
    count = (
        session.scalar(
            select(func.count(NotificationChannel.id)).where(
                NotificationChannel.cooperative_id == principal.cooperative_id,
                NotificationChannel.enabled.is_(True),
                NotificationChannel.user_id.is_(None),  # members' own channels have a cap of their own
            )
        )
        or 0
    )
    if count >= settings.notify_max_channels:
        raise ApiError(400, "too_many_channels", limit=settings.notify_max_channels)
    ch = NotificationChannel(cooperative_id=principal.cooperative_id, **body.model_dump())
    session.add(ch)
    session.commit()
    return ch


@router.post("/api/v1/channels", response_model=ChannelOut, status_code=201, responses=errors(400, 403, 422))
def add_channel(body: ChannelIn, session: SessionDep, principal: CurrentUser, settings: SettingsDep) -> ChannelOut:
    """Add a channel. Its settings are checked now (times, caps, addresses; a webhook must point at a public
    address, or one the operator allowed), so a bad channel never reaches the sender."""
    return _out(create_channel(session, principal, settings, body))


@router.get("/api/v1/channels", response_model=list[ChannelOut], responses=errors(403))
def list_channels(session: SessionDep, principal: CurrentUser) -> list[ChannelOut]:
    principal.require(*MANAGERS)
    shared = scoped(NotificationChannel, principal).where(NotificationChannel.user_id.is_(None))  # not members' own
    return [_out(c) for c in session.scalars(shared.order_by(NotificationChannel.id))]


@router.delete("/api/v1/channels/{channel_id}", response_model=ChannelOut, responses=errors(403, 404))
def disable_channel(channel_id: Id, session: SessionDep, principal: CurrentUser) -> ChannelOut:
    """Channels are disabled, not deleted: their delivery log stays."""
    principal.require(*MANAGERS)
    ch = shared_channel_owned(session, channel_id, principal)
    ch.enabled = False
    session.commit()
    return _out(ch)


@router.get("/api/v1/alerts/{alert_id}/deliveries", response_model=list[DeliveryOut], responses=errors(403, 404))
def alert_deliveries(alert_id: Id, session: SessionDep, principal: CurrentUser) -> list[Delivery]:
    """The delivery log of an alert (cooperative staff only): status code and a fixed error class per attempt."""
    get_owned(session, Alert, alert_id, principal, "alert")
    principal.require(*MANAGERS)
    return list(session.scalars(select(Delivery).where(Delivery.alert_id == alert_id).order_by(Delivery.id)))
